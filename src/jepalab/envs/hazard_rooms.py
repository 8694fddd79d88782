"""Two-Rooms with hot cells: forbidden regions that end the episode as a failure.

Each layout has :data:`HAZARDS` square hot cells (:data:`HAZARD_SIZE` px, drawn blue,
the agent's red dot stays visible on top) placed at random in free space, at least
:data:`DOOR_CLEARANCE` px from the door so the door stays passable. The agent *enters* a
cell when its disc touches it; the episode then terminates, ``info["hazard"]`` is true and
the task counts as failed even at the goal. Tasks start and end at least
:data:`TASK_HAZARD_CLEARANCE` px from every cell.

The cells are part of the layout (``wall_x, door_y, hazard0_x, hazard0_y, ...``: top-left
pixels), so datasets record them and :func:`hazard_distance` recovers from states and
layouts how close every recorded frame was to a cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from jepalab.envs import geometry
from jepalab.envs.dot_world import AGENT_RADIUS, BORDER, SIZE
from jepalab.envs.two_rooms import TwoRoomsEnv, wall_rects
from jepalab.errors import JepalabError

HAZARDS = 3
HAZARD_SIZE = 8
HAZARD_BLUE = 255
DOOR_CLEARANCE = 8.0  # px between a cell and the door's centre, along each axis
TASK_HAZARD_CLEARANCE = 3.0


def hazard_rects(layout: Sequence[int]) -> list[geometry.Rect]:
    """The hot cells of a hazard layout ``(wall_x, door_y, x0, y0, x1, y1, ...)``."""
    corners = np.asarray(layout[2:], int).reshape(-1, 2)
    return [geometry.pixel_rect(x, y, x + HAZARD_SIZE - 1, y + HAZARD_SIZE - 1) for x, y in corners]


def hazard_distance(pos: np.ndarray, layout: Sequence[int]) -> np.ndarray:
    """Distance ``(N,)`` from each ``(N, 2)`` position to the nearest hot cell's edge, in px
    (0 inside a cell); the agent enters a cell where this is below its radius."""
    pos = np.asarray(pos, np.float64).reshape(-1, 2)
    rects = np.asarray(hazard_rects(layout))  # (K, 4)
    dx = np.maximum(np.maximum(rects[:, 0] - pos[:, :1], pos[:, :1] - rects[:, 2]), 0)
    dy = np.maximum(np.maximum(rects[:, 1] - pos[:, 1:], pos[:, 1:] - rects[:, 3]), 0)
    return np.hypot(dx, dy).min(1)


class HazardRoomsEnv(TwoRoomsEnv):
    """Two-Rooms with :data:`HAZARDS` hot cells per layout; the same API plus
    :attr:`in_hazard` and ``info["hazard"]``."""

    layout_fields: ClassVar[tuple[str, ...]] = (
        "wall_x",
        "door_y",
        *(f"hazard{i}_{axis}" for i in range(HAZARDS) for axis in "xy"),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hazards: list[geometry.Rect] = []
        self._burned = False

    @property
    def in_hazard(self) -> bool:
        """Whether the agent has entered a hot cell this episode."""
        return self._burned

    def is_success(self) -> bool:
        """At the goal without having entered a hot cell."""
        return not self._burned and super().is_success()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        self._burned = self._burned or self._touches(self._pos)
        if self._burned:
            info["hazard"], info["is_success"] = True, False
        return obs, reward, terminated or self._burned, truncated, info

    # -- internals -----------------------------------------------------------------------

    def _walls(self, layout: tuple[int, ...]) -> list[geometry.Rect]:
        return wall_rects(*layout[:2])

    def _set_layout(self, layout: tuple[int, ...]) -> None:
        super()._set_layout(layout)
        self._hazards = hazard_rects(layout)
        cells = geometry.rasterize(self._hazards, (SIZE, SIZE))
        self._background[cells] = (0, 0, HAZARD_BLUE)

    def _random_layout(self) -> tuple[int, ...]:
        wall_x, door_y = super()._random_layout()
        walls = wall_rects(wall_x, door_y)
        corners: list[int] = []
        while len(corners) < 2 * HAZARDS:
            x, y = (int(v) for v in self.np_random.integers(BORDER, SIZE - BORDER - HAZARD_SIZE, 2))
            centre = np.array([x, y]) + (HAZARD_SIZE - 1) / 2
            half = HAZARD_SIZE / 2
            near_door = (np.abs(centre - (wall_x, door_y)) < half + DOOR_CLEARANCE).all()
            # a cell must leave a gap the agent fits through between it and any wall
            if not near_door and geometry.is_free(centre, walls, half + 2 * AGENT_RADIUS + 1):
                corners += [x, y]
        return (wall_x, door_y, *corners)

    def _check_layout(self, layout: Sequence[int]) -> tuple[int, ...]:  # type: ignore[override]
        if len(layout) != len(self.layout_fields):
            raise JepalabError(
                f"a hazard layout has {len(self.layout_fields)} numbers "
                f"{self.layout_fields}, got {tuple(layout)!r}"
            )
        return (*TwoRoomsEnv._check_layout(layout[:2]), *(int(v) for v in layout[2:]))

    def _random_free_pos(self, room: int | None, clearance: float) -> np.ndarray:
        while True:
            pos = super()._random_free_pos(room, clearance)
            if not self._touches(pos, TASK_HAZARD_CLEARANCE if clearance else 0.0):
                return pos

    def _touches(self, pos: np.ndarray, margin: float = 0.0) -> bool:
        return not geometry.is_free(pos, self._hazards, AGENT_RADIUS + margin)

    def _start(self, pos: np.ndarray, goal: np.ndarray | None) -> None:
        super()._start(pos, goal)
        self._burned = False

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "hazard": self._burned}

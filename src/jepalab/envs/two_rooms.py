"""Two rooms joined by a door: the standard small planning world (as in PLDM, EB-JEPA, LeWM).

A 65x65 top-down RGB image. Gray (200) walls: a 2 px border and one 3 px wide vertical
wall at column ``wall_x`` with a door of rows ``door_y - 4 .. door_y + 4``. The agent is a
Gaussian dot (sigma 1.3 px) in the red channel with a collision radius of 1 px. An action
is a displacement, clipped to norm 2.45 px and perturbed by Gaussian noise; walls stop the
agent and it slides along them.

As a :class:`~jepalab.protocols.GoalTask`, ``reset_task(seed)`` puts the start in one room
and the goal in the other, so every task needs the door.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from jepalab.envs import geometry
from jepalab.envs.dot_world import (
    AGENT_RADIUS,
    BORDER,
    MAX_STEP,
    SIZE,
    TASK_CLEARANCE,
    WALL_HALF_WIDTH,
    DotWorld,
    draw_agent,
    wall_image,
)
from jepalab.errors import JepalabError

__all__ = ["AGENT_RADIUS", "MAX_STEP", "TwoRoomsEnv", "render", "room_of", "wall_rects"]

DOOR_HALF_HEIGHT = 4
WALL_X_RANGE = (20, 44)
DOOR_Y_RANGE = (10, 54)


def wall_rects(wall_x: int, door_y: int) -> list[geometry.Rect]:
    """The wall rectangles of a layout: the border and the two halves of the inner wall."""
    inner_x0, inner_x1 = wall_x - WALL_HALF_WIDTH, wall_x + WALL_HALF_WIDTH
    return [
        *geometry.border_rects(SIZE, SIZE, BORDER),
        geometry.pixel_rect(inner_x0, 0, inner_x1, door_y - DOOR_HALF_HEIGHT - 1),
        geometry.pixel_rect(inner_x0, door_y + DOOR_HALF_HEIGHT + 1, inner_x1, SIZE - 1),
    ]


def room_of(pos: Sequence[float] | np.ndarray, wall_x: float) -> int:
    """Which room ``pos`` ``(x, y)`` is in: 0 left of the wall's centre line, 1 right."""
    return int(pos[0] >= wall_x)


def render(wall_x: int, door_y: int, pos: Sequence[float] | np.ndarray) -> np.ndarray:
    """The ``(65, 65, 3)`` uint8 image of a layout with the agent at ``pos``."""
    return draw_agent(wall_image(wall_rects(wall_x, door_y)), pos)


class TwoRoomsEnv(DotWorld):
    """Two rooms and a door; observations are ``(65, 65, 3)`` uint8 images.

    Args:
        render_mode: ``None`` or ``"rgb_array"``.
        action_noise: std of the Gaussian noise added to each (clipped) action, in px.
        max_episode_steps: steps after which an episode is truncated.
    """

    #: Names of the numbers in :attr:`layout`, in order.
    layout_fields: ClassVar[tuple[str, ...]] = ("wall_x", "door_y")

    def _walls(self, layout: tuple[int, ...]) -> list[geometry.Rect]:
        return wall_rects(*layout)

    @property
    def layout(self) -> tuple[int, int]:
        """``(wall_x, door_y)`` of the current episode."""
        return self._require_reset()  # type: ignore[return-value]

    def room(self) -> int:
        """The agent's room: 0 left, 1 right."""
        return room_of(self._pos, self._require_reset()[0])

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode without a goal.

        ``options`` may hold ``layout`` ``(wall_x, door_y)`` (default: random) and ``pos``
        ``(x, y)`` (default: uniform over free space).
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"layout", "pos"}
        if unknown:
            raise JepalabError(f"unknown reset options {sorted(unknown)}; known: layout, pos")
        if "layout" in options:
            self._set_layout(self._check_layout(options["layout"]))
        else:
            self._set_layout(self._random_layout())
        if "pos" in options:
            pos = self._check_pos(options["pos"])
        else:
            pos = self._random_free_pos(room=None, clearance=0.0)
        self._start(pos, goal=None)
        return self._observe(), self._info()

    # -- GoalTask ------------------------------------------------------------------------

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw a layout, a start in one room and a goal in the other from ``seed``.

        Both are at least 1 px clear of walls. Returns ``(start_obs, goal_obs)``, each
        ``(65, 65, 3)`` uint8; ``goal_obs`` shows the agent at the goal.
        """
        super().reset(seed=seed)
        self._set_layout(self._random_layout())
        start_room = int(self.np_random.integers(2))
        start = self._random_free_pos(room=start_room, clearance=TASK_CLEARANCE)
        goal = self._random_free_pos(room=1 - start_room, clearance=TASK_CLEARANCE)
        self._start(start, goal)
        return self._observe(), draw_agent(self._background, goal)

    # -- internals -----------------------------------------------------------------------

    def _random_layout(self) -> tuple[int, int]:
        wall_x = int(self.np_random.integers(WALL_X_RANGE[0], WALL_X_RANGE[1] + 1))
        door_y = int(self.np_random.integers(DOOR_Y_RANGE[0], DOOR_Y_RANGE[1] + 1))
        return wall_x, door_y

    @staticmethod
    def _check_layout(layout: Sequence[int]) -> tuple[int, int]:
        try:
            wall_x, door_y = (int(v) for v in layout)
        except (TypeError, ValueError) as err:
            raise JepalabError(f"layout must be (wall_x, door_y), got {layout!r}") from err
        if not (
            WALL_X_RANGE[0] <= wall_x <= WALL_X_RANGE[1]
            and DOOR_Y_RANGE[0] <= door_y <= DOOR_Y_RANGE[1]
        ):
            raise JepalabError(
                f"layout {tuple(layout)} out of range: wall_x must be in {WALL_X_RANGE} "
                f"and door_y in {DOOR_Y_RANGE}"
            )
        return wall_x, door_y

    def _random_free_pos(self, room: int | None, clearance: float) -> np.ndarray:
        """Uniform over the free space of ``room`` (or of the whole world), by rejection."""
        wall_x = self._require_reset()[0]
        x_lo, x_hi = BORDER - 0.5, SIZE - BORDER - 0.5
        if room == 0:
            x_hi = wall_x - WALL_HALF_WIDTH - 0.5
        elif room == 1:
            x_lo = wall_x + WALL_HALF_WIDTH + 0.5
        while True:
            pos = self.np_random.uniform([x_lo, BORDER - 0.5], [x_hi, SIZE - BORDER - 0.5])
            if geometry.is_free(pos, self._rects, AGENT_RADIUS + clearance):
                return pos

    def _info(self) -> dict[str, Any]:
        wall_x, door_y = self._require_reset()[:2]
        info: dict[str, Any] = {"pos": self.state, "wall_x": wall_x, "door_y": door_y}
        if self._goal is not None:
            info["goal"] = self.goal
            info["is_success"] = self.is_success()
        return info

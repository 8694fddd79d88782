"""A 3x3 grid of rooms joined by doors: the long-horizon world (Two-Rooms, generalised).

Same picture as Two-Rooms: a 65x65 top-down RGB image, gray (200) walls 3 px wide, the
agent a Gaussian dot in the red channel, actions displacements of norm at most 2.45 px.
Two vertical and two horizontal inner walls cut the box into 3x3 rooms of about 18 px.
Every episode draws a new maze: the doors form a random spanning tree of the room grid
(so there is exactly one route between two rooms) and each door (7 px wide) sits at a
random place along its wall.

As a :class:`~jepalab.protocols.GoalTask`, ``reset_task(seed)`` puts start and goal in
rooms 2 to 4 doors apart along that route; success is ending within 4.5 px of the goal
within 400 steps. The layout is 12 numbers, one per wall between neighbouring rooms: the
door's centre along the wall, or -1 where the wall is closed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np

from jepalab.envs import geometry
from jepalab.envs.dot_world import (
    AGENT_RADIUS,
    BORDER,
    SIZE,
    TASK_CLEARANCE,
    WALL_HALF_WIDTH,
    DotWorld,
    draw_agent,
    wall_image,
)
from jepalab.errors import JepalabError

GRID = 3
WALLS = (22, 43)  # centre columns (and rows) of the inner walls
DOOR_HALF_WIDTH = 3
DOOR_MARGIN = 3  # px between a door's edge and the corner of its room
TASK_DOORS = (2, 4)  # doors on the route from the start room to the goal room
MAX_EPISODE_STEPS = 400

# Room spans along one axis, in pixel coordinates: between the border and the first wall,
# between the walls, between the last wall and the border.
_HALF = WALL_HALF_WIDTH + 0.5
_EDGES = (BORDER - 0.5, *(w + s for w in WALLS for s in (-_HALF, _HALF)), SIZE - BORDER - 0.5)
SPANS: tuple[tuple[float, float], ...] = tuple(zip(_EDGES[::2], _EDGES[1::2], strict=True))

Room = tuple[int, int]  # (row, column)


def walls_between() -> list[tuple[Room, Room]]:
    """The 12 walls between neighbouring rooms, in layout order: 6 vertical walls (rooms
    side by side, row by row), then 6 horizontal ones (rooms one above the other)."""
    vertical = [((r, c), (r, c + 1)) for r in range(GRID) for c in range(GRID - 1)]
    horizontal = [((r, c), (r + 1, c)) for c in range(GRID) for r in range(GRID - 1)]
    return vertical + horizontal


LAYOUT_FIELDS: tuple[str, ...] = tuple(
    f"door_{a[0]}{a[1]}_{b[0]}{b[1]}" for a, b in walls_between()
)


def wall_rects(doors: Sequence[int]) -> list[geometry.Rect]:
    """Border and inner walls of a layout, each inner wall split around its door."""
    rects = geometry.border_rects(SIZE, SIZE, BORDER)
    for (a, b), door in zip(walls_between(), doors, strict=True):
        vertical = a[0] == b[0]
        wall = WALLS[a[1]] if vertical else WALLS[a[0]]
        lo, hi = SPANS[a[0]] if vertical else SPANS[a[1]]
        # Extend each wall piece over the crossing with the perpendicular walls.
        lo, hi = int(lo - 0.5) - WALL_HALF_WIDTH, int(hi + 0.5) + WALL_HALF_WIDTH
        pieces = [(lo, hi)] if door < 0 else [
            (lo, door - DOOR_HALF_WIDTH - 1), (door + DOOR_HALF_WIDTH + 1, hi)
        ]  # fmt: skip
        for p0, p1 in pieces:
            if p1 < p0:
                continue
            w0, w1 = wall - WALL_HALF_WIDTH, wall + WALL_HALF_WIDTH
            rects.append(
                geometry.pixel_rect(w0, p0, w1, p1)
                if vertical
                else geometry.pixel_rect(p0, w0, p1, w1)
            )
    return rects


def room_of(pos: Sequence[float] | np.ndarray) -> Room:
    """The room ``(row, column)`` containing ``pos`` ``(x, y)`` (walls count to the nearer)."""
    x, y = float(pos[0]), float(pos[1])
    return int(np.searchsorted(WALLS, y)), int(np.searchsorted(WALLS, x))


def room_route(doors: Sequence[int], start: Room, goal: Room) -> list[Room] | None:
    """The rooms from ``start`` to ``goal`` through open doors (breadth-first; None if the
    goal cannot be reached)."""
    neighbours: dict[Room, list[Room]] = {}
    for (a, b), door in zip(walls_between(), doors, strict=True):
        if door >= 0:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    came: dict[Room, Room | None] = {start: None}
    queue = deque([start])
    while queue:
        room = queue.popleft()
        if room == goal:
            route = [room]
            while came[route[-1]] is not None:
                route.append(came[route[-1]])  # type: ignore[arg-type]
            return route[::-1]
        for nxt in neighbours.get(room, []):
            if nxt not in came:
                came[nxt] = room
                queue.append(nxt)
    return None


def door_range(wall: tuple[Room, Room]) -> tuple[int, int]:
    """Allowed door centres along a wall: the room's span less a margin at each corner."""
    a, b = wall
    lo, hi = SPANS[a[0]] if a[0] == b[0] else SPANS[a[1]]
    return int(np.ceil(lo)) + DOOR_HALF_WIDTH + DOOR_MARGIN, int(hi) - DOOR_HALF_WIDTH - DOOR_MARGIN


def random_layout(rng: np.random.Generator) -> tuple[int, ...]:
    """A spanning tree of the room grid (randomised Kruskal), a door at a random place on
    each of its walls, -1 on the others."""
    walls = walls_between()
    parent = {(r, c): (r, c) for r in range(GRID) for c in range(GRID)}

    def root(room: Room) -> Room:
        while parent[room] != room:
            room = parent[room]
        return room

    doors = [-1] * len(walls)
    for i in rng.permutation(len(walls)):
        a, b = walls[i]
        if root(a) != root(b):
            parent[root(a)] = root(b)
            lo, hi = door_range(walls[i])
            doors[i] = int(rng.integers(lo, hi + 1))
    return tuple(doors)


def render(doors: Sequence[int], pos: Sequence[float] | np.ndarray) -> np.ndarray:
    """The ``(65, 65, 3)`` uint8 image of a layout with the agent at ``pos``."""
    return draw_agent(wall_image(wall_rects(doors)), pos)


class MazeEnv(DotWorld):
    """3x3 rooms joined by a random tree of doors; observations ``(65, 65, 3)`` uint8.

    Args:
        render_mode: ``None`` or ``"rgb_array"``.
        action_noise: std of the Gaussian noise added to each (clipped) action, in px.
        max_episode_steps: steps after which an episode is truncated.
    """

    layout_fields: ClassVar[tuple[str, ...]] = LAYOUT_FIELDS

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.05,
        max_episode_steps: int = MAX_EPISODE_STEPS,
    ) -> None:
        super().__init__(render_mode, action_noise, max_episode_steps)

    def _walls(self, layout: tuple[int, ...]) -> list[geometry.Rect]:
        return wall_rects(layout)

    @property
    def layout(self) -> tuple[int, ...]:
        """The 12 door positions of the current maze (-1: closed wall)."""
        return self._require_reset()

    def room(self) -> Room:
        self._require_reset()
        return room_of(self._pos)

    def route(self) -> list[Room] | None:
        """Rooms from the agent's room to the goal's (None if the goal is sealed off)."""
        if self._goal is None:
            raise JepalabError("no task is active: call reset_task(seed) first")
        return room_route(self._require_reset(), room_of(self._pos), room_of(self._goal))

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode without a goal. ``options`` may hold ``layout`` (12 door
        positions, -1 for a closed wall; any layout, sealed rooms included) and ``pos``."""
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"layout", "pos"}
        if unknown:
            raise JepalabError(f"unknown reset options {sorted(unknown)}; known: layout, pos")
        layout = options.get("layout")
        self._set_layout(
            random_layout(self.np_random) if layout is None else self._check_layout(layout)
        )
        if "pos" in options:
            pos = self._check_pos(options["pos"])
        else:
            pos = self._random_free_pos(None, 0.0)
        self._start(pos, None)
        return self._observe(), self._info()

    # -- GoalTask ------------------------------------------------------------------------

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw a maze, and start and goal rooms 2-4 doors apart, from ``seed``.

        Returns ``(start_obs, goal_obs)``; ``goal_obs`` shows the agent at the goal."""
        super().reset(seed=seed)
        self._set_layout(random_layout(self.np_random))
        rooms = [(r, c) for r in range(GRID) for c in range(GRID)]
        pairs = [
            (a, b)
            for a in rooms
            for b in rooms
            if TASK_DOORS[0] <= len(room_route(self._layout, a, b) or []) - 1 <= TASK_DOORS[1]
        ]
        a, b = pairs[int(self.np_random.integers(len(pairs)))]
        start = self._random_free_pos(a, TASK_CLEARANCE)
        goal = self._random_free_pos(b, TASK_CLEARANCE)
        self._start(start, goal)
        return self._observe(), draw_agent(self._background, goal)

    def set_goal(self, goal: Sequence[float]) -> np.ndarray:
        """Make ``goal`` ``(x, y)`` the task's goal (it must be free space; it may be
        unreachable); returns the goal observation."""
        g = np.asarray(goal, dtype=np.float64)
        self._require_reset()
        if g.shape != (2,) or not geometry.is_free(g, self._rects, AGENT_RADIUS):
            raise JepalabError(f"goal {tuple(np.ravel(g))} is not in the free space of the maze")
        self._goal = g
        return draw_agent(self._background, g)

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _check_layout(layout: Sequence[int]) -> tuple[int, ...]:
        try:
            doors = tuple(int(v) for v in layout)
        except (TypeError, ValueError) as err:
            raise JepalabError(f"layout must be 12 door positions, got {layout!r}") from err
        if len(doors) != len(LAYOUT_FIELDS):
            raise JepalabError(f"layout must be 12 door positions, got {len(doors)}")
        for wall, door in zip(walls_between(), doors, strict=True):
            lo, hi = door_range(wall)
            if door != -1 and not lo <= door <= hi:
                raise JepalabError(
                    f"door {door} between rooms {wall[0]} and {wall[1]} is outside [{lo}, {hi}]"
                )
        return doors

    def _random_free_pos(self, room: Room | None, clearance: float) -> np.ndarray:
        """Uniform over the free space of ``room`` (or of the whole maze), by rejection."""
        if room is None:
            lo, hi = [BORDER - 0.5] * 2, [SIZE - BORDER - 0.5] * 2
        else:
            (y0, y1), (x0, x1) = SPANS[room[0]], SPANS[room[1]]
            lo, hi = [x0, y0], [x1, y1]
        while True:
            pos = self.np_random.uniform(lo, hi)
            if geometry.is_free(pos, self._rects, AGENT_RADIUS + clearance):
                return pos

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "pos": self.state,
            "room": room_of(self._pos),
            "layout": self._require_reset(),
        }
        if self._goal is not None:
            info["goal"] = self.goal
            info["is_success"] = self.is_success()
        return info


def door_waypoints(
    doors: Sequence[int], route: Sequence[Room], rng: np.random.Generator, jitter: float = 1.5
) -> list[np.ndarray]:
    """Points ``(x, y)`` 4 px before and after each door along ``route``: following them
    crosses every door of the route (for exploration data, which may read the layout)."""
    index = {frozenset(w): i for i, w in enumerate(walls_between())}
    points = []
    for a, b in pairwise(route):
        door = doors[index[frozenset((a, b))]] + rng.uniform(-jitter, jitter)
        if a[0] == b[0]:  # side by side: cross the vertical wall
            wall, step = WALLS[min(a[1], b[1])], np.sign(b[1] - a[1])
            points += [np.array([wall - 4.0 * step, door]), np.array([wall + 4.0 * step, door])]
        else:
            wall, step = WALLS[min(a[0], b[0])], np.sign(b[0] - a[0])
            points += [np.array([door, wall - 4.0 * step]), np.array([door, wall + 4.0 * step])]
    return points


def point_in_room(room: Room, rng: np.random.Generator, margin: float = 3.0) -> np.ndarray:
    """A uniform point ``(x, y)`` at least ``margin`` px inside ``room``."""
    (y0, y1), (x0, x1) = SPANS[room[0]], SPANS[room[1]]
    return rng.uniform([x0 + margin, y0 + margin], [x1 - margin, y1 - margin])

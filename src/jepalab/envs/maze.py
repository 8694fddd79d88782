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

import gymnasium as gym
import numpy as np

from jepalab.envs import geometry
from jepalab.envs.two_rooms import (
    AGENT_RADIUS,
    BORDER,
    MAX_STEP,
    SIZE,
    SUCCESS_DISTANCE,
    TASK_CLEARANCE,
    WALL_GRAY,
    WALL_HALF_WIDTH,
    _draw_agent,
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
    return _draw_agent(_background(doors), pos)


def _background(doors: Sequence[int]) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    image[geometry.rasterize(wall_rects(doors), (SIZE, SIZE))] = WALL_GRAY
    return image


class MazeEnv(gym.Env):
    """3x3 rooms joined by a random tree of doors; observations ``(65, 65, 3)`` uint8.

    Args:
        render_mode: ``None`` or ``"rgb_array"``.
        action_noise: std of the Gaussian noise added to each (clipped) action, in px.
        max_episode_steps: steps after which an episode is truncated.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    layout_fields: ClassVar[tuple[str, ...]] = LAYOUT_FIELDS

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.05,
        max_episode_steps: int = MAX_EPISODE_STEPS,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise JepalabError(
                f"render_mode {render_mode!r} is not supported; use None or 'rgb_array'"
            )
        if not (np.isfinite(action_noise) and action_noise >= 0):
            raise JepalabError(f"action_noise must be a finite number >= 0, got {action_noise}")
        if max_episode_steps < 1:
            raise JepalabError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.render_mode = render_mode
        self.action_noise = float(action_noise)
        self.max_episode_steps = int(max_episode_steps)
        self.observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
        self.action_space = gym.spaces.Box(-MAX_STEP, MAX_STEP, (2,), np.float32)
        self._doors: tuple[int, ...] | None = None
        self._rects: list[geometry.Rect] = []
        self._background = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        self._pos = np.zeros(2)
        self._goal: np.ndarray | None = None
        self._steps = 0

    @property
    def state(self) -> np.ndarray:
        """The agent's ``(2,)`` float32 position ``(x, y)`` in px."""
        return self._pos.astype(np.float32)

    @property
    def layout(self) -> tuple[int, ...]:
        """The 12 door positions of the current maze (-1: closed wall)."""
        return self._require_reset()

    @property
    def goal(self) -> np.ndarray | None:
        return None if self._goal is None else self._goal.astype(np.float32)

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
            pos = np.asarray(options["pos"], dtype=np.float64)
            if pos.shape != (2,) or not np.isfinite(pos).all():
                raise JepalabError(f"pos must be two finite numbers (x, y), got {options['pos']}")
            if not geometry.is_free(pos, self._rects, AGENT_RADIUS):
                raise JepalabError(f"pos {tuple(pos)} is not in the free space of the maze")
        else:
            pos = self._random_free_pos(None, 0.0)
        self._start(pos, None)
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move by ``action`` ``(2,)`` (clipped to norm 2.45, plus noise)."""
        self._require_reset()
        delta = np.asarray(action, dtype=np.float64)
        if delta.shape != (2,):
            raise JepalabError(f"action must have shape (2,), got {delta.shape}")
        if not np.isfinite(delta).all():
            raise JepalabError(f"action must be finite, got {delta.tolist()}")
        norm = float(np.hypot(*delta))
        if norm > MAX_STEP:
            delta = delta * (MAX_STEP / norm)
        if self.action_noise > 0:
            delta = delta + self.np_random.normal(0.0, self.action_noise, 2)
        self._pos = geometry.move(self._pos, delta, self._rects, AGENT_RADIUS)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        if self._goal is None:
            return self._observe(), 0.0, False, truncated, self._info()
        distance = self.goal_distance()
        return self._observe(), -distance, distance < SUCCESS_DISTANCE, truncated, self._info()

    def render(self) -> np.ndarray | None:
        return self._observe() if self.render_mode == "rgb_array" else None

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
            if TASK_DOORS[0] <= len(room_route(self._doors, a, b) or []) - 1 <= TASK_DOORS[1]
        ]
        a, b = pairs[int(self.np_random.integers(len(pairs)))]
        start = self._random_free_pos(a, TASK_CLEARANCE)
        goal = self._random_free_pos(b, TASK_CLEARANCE)
        self._start(start, goal)
        return self._observe(), _draw_agent(self._background, goal)

    def set_goal(self, goal: Sequence[float]) -> np.ndarray:
        """Make ``goal`` ``(x, y)`` the task's goal (it must be free space; it may be
        unreachable); returns the goal observation."""
        g = np.asarray(goal, dtype=np.float64)
        self._require_reset()
        if g.shape != (2,) or not geometry.is_free(g, self._rects, AGENT_RADIUS):
            raise JepalabError(f"goal {tuple(np.ravel(g))} is not in the free space of the maze")
        self._goal = g
        return _draw_agent(self._background, g)

    def goal_distance(self) -> float:
        """Euclidean distance from the agent to the goal, in px."""
        if self._goal is None:
            raise JepalabError("no task is active: call reset_task(seed) first")
        return float(np.hypot(*(self._pos - self._goal)))

    def is_success(self) -> bool:
        return self.goal_distance() < SUCCESS_DISTANCE

    # -- internals -----------------------------------------------------------------------

    def _require_reset(self) -> tuple[int, ...]:
        if self._doors is None:
            raise JepalabError("the environment has not been reset: call reset() first")
        return self._doors

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

    def _set_layout(self, doors: tuple[int, ...]) -> None:
        if doors != self._doors:
            self._doors = doors
            self._rects = wall_rects(doors)
            self._background = _background(doors)

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

    def _start(self, pos: np.ndarray, goal: np.ndarray | None) -> None:
        self._pos, self._goal, self._steps = np.asarray(pos, dtype=np.float64), goal, 0

    def _observe(self) -> np.ndarray:
        return _draw_agent(self._background, self._pos)

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

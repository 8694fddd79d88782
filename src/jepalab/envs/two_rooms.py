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

import gymnasium as gym
import numpy as np

from jepalab.envs import geometry
from jepalab.errors import JepalabError

SIZE = 65
BORDER = 2
WALL_HALF_WIDTH = 1
DOOR_HALF_HEIGHT = 4
WALL_X_RANGE = (20, 44)
DOOR_Y_RANGE = (10, 54)
WALL_GRAY = 200
AGENT_SIGMA = 1.3
AGENT_RADIUS = 1.0
MAX_STEP = 2.45
SUCCESS_DISTANCE = 4.5
TASK_CLEARANCE = 1.0

# Pixels farther than 5 from the rounded centre are >= 5.5 px away, where the dot is
# below 0.5 and rounds to 0, so this patch draws the dot exactly.
_PATCH = 5
_NEG_HALF_INV_VAR = -0.5 / AGENT_SIGMA**2


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
    return _draw_agent(_background(wall_x, door_y), pos)


def _background(wall_x: int, door_y: int) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    image[geometry.rasterize(wall_rects(wall_x, door_y), (SIZE, SIZE))] = WALL_GRAY
    return image


def _draw_agent(background: np.ndarray, pos: Sequence[float] | np.ndarray) -> np.ndarray:
    image = background.copy()
    x, y = float(pos[0]), float(pos[1])
    cx, cy = round(x), round(y)
    c0, c1 = max(0, cx - _PATCH), min(SIZE, cx + _PATCH + 1)
    r0, r1 = max(0, cy - _PATCH), min(SIZE, cy + _PATCH + 1)
    # The Gaussian is separable: an outer product of two 1-D profiles (+0.5 then truncate
    # rounds to nearest).
    gx = np.exp((np.arange(c0, c1) - x) ** 2 * _NEG_HALF_INV_VAR)
    gy = np.exp((np.arange(r0, r1) - y) ** 2 * _NEG_HALF_INV_VAR)
    dot = ((255 * gy)[:, None] * gx + 0.5).astype(np.uint8)
    red = image[r0:r1, c0:c1, 0]
    np.maximum(red, dot, out=red)
    return image


class TwoRoomsEnv(gym.Env):
    """Two rooms and a door; observations are ``(65, 65, 3)`` uint8 images.

    Args:
        render_mode: ``None`` or ``"rgb_array"``.
        action_noise: std of the Gaussian noise added to each (clipped) action, in px.
        max_episode_steps: steps after which an episode is truncated.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    #: Names of the numbers in :attr:`layout`, in order.
    layout_fields: ClassVar[tuple[str, ...]] = ("wall_x", "door_y")

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.05,
        max_episode_steps: int = 200,
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
        self._layout: tuple[int, int] | None = None
        self._rects: list[geometry.Rect] = []
        self._background = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        self._pos = np.zeros(2)
        self._goal: np.ndarray | None = None
        self._steps = 0

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """The agent's ``(2,)`` float32 position ``(x, y)`` in px."""
        return self._pos.astype(np.float32)

    @property
    def layout(self) -> tuple[int, int]:
        """``(wall_x, door_y)`` of the current episode."""
        return self._require_reset()

    @property
    def goal(self) -> np.ndarray | None:
        """The goal's ``(2,)`` float32 position, or ``None`` without a task."""
        return None if self._goal is None else self._goal.astype(np.float32)

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
            pos = np.asarray(options["pos"], dtype=np.float64)
            if pos.shape != (2,) or not np.isfinite(pos).all():
                raise JepalabError(f"pos must be two finite numbers (x, y), got {options['pos']}")
            inside = ((pos > BORDER - 0.5) & (pos < SIZE - BORDER - 0.5)).all()
            if not inside or not geometry.is_free(pos, self._rects, AGENT_RADIUS):
                raise JepalabError(
                    f"pos {tuple(pos)} is not in free space of layout {self._layout}"
                )
        else:
            pos = self._random_free_pos(room=None, clearance=0.0)
        self._start(pos, goal=None)
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
        success = distance < SUCCESS_DISTANCE
        return self._observe(), -distance, success, truncated, self._info()

    def render(self) -> np.ndarray | None:
        """The current observation when ``render_mode == "rgb_array"``."""
        return self._observe() if self.render_mode == "rgb_array" else None

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
        return self._observe(), _draw_agent(self._background, goal)

    def goal_distance(self) -> float:
        """Euclidean distance from the agent to the goal, in px."""
        if self._goal is None:
            raise JepalabError("no task is active: call reset_task(seed) first")
        return float(np.hypot(*(self._pos - self._goal)))

    def is_success(self) -> bool:
        """Whether the agent is within 4.5 px of the goal."""
        return self.goal_distance() < SUCCESS_DISTANCE

    # -- internals -----------------------------------------------------------------------

    def _require_reset(self) -> tuple[int, int]:
        if self._layout is None:
            raise JepalabError("the environment has not been reset: call reset() first")
        return self._layout

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

    def _set_layout(self, layout: tuple[int, int]) -> None:
        if layout != self._layout:
            self._layout = layout
            self._rects = wall_rects(*layout)
            self._background = _background(*layout)

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

    def _start(self, pos: np.ndarray, goal: np.ndarray | None) -> None:
        self._pos = np.asarray(pos, dtype=np.float64)
        self._goal = goal
        self._steps = 0

    def _observe(self) -> np.ndarray:
        return _draw_agent(self._background, self._pos)

    def _info(self) -> dict[str, Any]:
        wall_x, door_y = self._require_reset()
        info: dict[str, Any] = {"pos": self.state, "wall_x": wall_x, "door_y": door_y}
        if self._goal is not None:
            info["goal"] = self.goal
            info["is_success"] = self.is_success()
        return info

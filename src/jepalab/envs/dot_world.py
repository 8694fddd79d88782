"""What Two-Rooms and the maze share: a Gaussian dot moved among walls in a 65x65 picture.

:class:`DotWorld` holds the agent, the goal and the current layout's walls, and does the
parts that do not depend on the layout: checking arguments, stepping (clip the action to
norm 2.45, add noise, stop at walls), rendering, and the goal test of the
:class:`~jepalab.protocols.GoalTask` protocol. A world says how a layout becomes walls
(``_walls``) and how episodes and tasks start.
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


def wall_image(rects: Sequence[geometry.Rect]) -> np.ndarray:
    """The ``(65, 65, 3)`` uint8 picture of walls, without the agent."""
    image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    image[geometry.rasterize(rects, (SIZE, SIZE))] = WALL_GRAY
    return image


def draw_agent(background: np.ndarray, pos: Sequence[float] | np.ndarray) -> np.ndarray:
    """``background`` with the agent's Gaussian dot at ``pos`` ``(x, y)`` in the red channel."""
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


class DotWorld(gym.Env):
    """Base of the dot worlds; observations are ``(65, 65, 3)`` uint8 images.

    Args:
        render_mode: ``None`` or ``"rgb_array"``.
        action_noise: std of the Gaussian noise added to each (clipped) action, in px.
        max_episode_steps: steps after which an episode is truncated.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    # Steps are clipped to this L2 norm. Agents plan inside it (ActionBounds.max_norm): a
    # planner allowed the box's corners would feed the world model actions it never saw in
    # training, and it extrapolates them through walls.
    max_action_norm: ClassVar[float] = MAX_STEP

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
        self._layout: tuple[int, ...] | None = None
        self._rects: list[geometry.Rect] = []
        self._background = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        self._pos = np.zeros(2)
        self._goal: np.ndarray | None = None
        self._steps = 0

    def _walls(self, layout: tuple[int, ...]) -> list[geometry.Rect]:
        """The wall rectangles of ``layout``."""
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """The agent's ``(2,)`` float32 position ``(x, y)`` in px."""
        return self._pos.astype(np.float32)

    @property
    def goal(self) -> np.ndarray | None:
        """The goal's ``(2,)`` float32 position, or ``None`` without a task."""
        return None if self._goal is None else self._goal.astype(np.float32)

    # -- Gymnasium API -------------------------------------------------------------------

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

    def goal_distance(self) -> float:
        """Euclidean distance from the agent to the goal, in px."""
        if self._goal is None:
            raise JepalabError("no task is active: call reset_task(seed) first")
        return float(np.hypot(*(self._pos - self._goal)))

    def is_success(self) -> bool:
        """Whether the agent is within 4.5 px of the goal."""
        return self.goal_distance() < SUCCESS_DISTANCE

    # -- internals -----------------------------------------------------------------------

    def _require_reset(self) -> tuple[int, ...]:
        if self._layout is None:
            raise JepalabError("the environment has not been reset: call reset() first")
        return self._layout

    def _set_layout(self, layout: tuple[int, ...]) -> None:
        if layout != self._layout:
            self._layout = layout
            self._rects = self._walls(layout)
            self._background = wall_image(self._rects)

    def _check_pos(self, pos: Any) -> np.ndarray:
        """A start position given in reset options, checked against the walls."""
        p = np.asarray(pos, dtype=np.float64)
        if p.shape != (2,) or not np.isfinite(p).all():
            raise JepalabError(f"pos must be two finite numbers (x, y), got {pos}")
        inside = ((p > BORDER - 0.5) & (p < SIZE - BORDER - 0.5)).all()
        if not inside or not geometry.is_free(p, self._rects, AGENT_RADIUS):
            raise JepalabError(f"pos {tuple(p)} is not in free space of layout {self._layout}")
        return p

    def _start(self, pos: np.ndarray, goal: np.ndarray | None) -> None:
        self._pos = np.asarray(pos, dtype=np.float64)
        self._goal = goal
        self._steps = 0

    def _observe(self) -> np.ndarray:
        return draw_agent(self._background, self._pos)

    def _info(self) -> dict[str, Any]:
        raise NotImplementedError

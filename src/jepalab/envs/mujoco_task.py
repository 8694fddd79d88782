"""The common ground of the MuJoCo worlds seen from above as goal-image tasks.

A third-party MuJoCo environment (Gymnasium's Reacher, Gymnasium-Robotics' point maze)
rendered headless (EGL unless ``MUJOCO_GL`` says otherwise) at ``size x size``; its own goal
marker hidden, since the goal is a picture of the agent at the goal. Bodies in these worlds
keep moving, and where they will be depends on a speed one picture does not show, so an
observation is the **last two frames stacked** on the channel axis, ``(size, size, 6)``
uint8 (previous RGB, then current RGB; after a reset both are the same frame), the frame
stacking of DQN. :class:`MujocoTask` holds that and the Gymnasium plumbing (checked, noisy,
clipped actions; truncation; success ends an episode); a world says how to act, what its
state is, and how its tasks are drawn and judged. :class:`PDExplorer` is the scripted
exploration both worlds collect with.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from jepalab.errors import JepalabError


def require_mujoco(world: str) -> None:
    """Point EGL at headless rendering (unless set) and check MuJoCo is installed."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco  # noqa: F401
    except ImportError:
        raise JepalabError(
            f"the {world} world needs MuJoCo: pip install 'jepalab[mujoco]'"
        ) from None


class PDExplorer(ABC):
    """Exploration for collection: a noisy PD controller towards random targets.

    Every ``hold`` steps (drawn from a range) it picks a new target and new gains, from
    sluggish to overshooting; actions get smoothed Gaussian noise, and one episode in four
    is smoothed noise alone, damped (or it spins up to speeds no task needs). The data thus
    holds runs, stops, overshoots and bodies at rest, which a planner that must bring a
    body to a halt at a goal needs the model to know. A world says what its
    ``(position, velocity)`` are in ``info``, what a target is, and the ranges.
    """

    hold: ClassVar[tuple[int, int]]  # steps a target is kept, [low, high)
    kp: ClassVar[tuple[float, float]]
    kd: ClassVar[tuple[float, float]]
    noise_std: ClassVar[float]  # of the Gaussian the smoothed noise is made of
    noise_gain: ClassVar[float]  # of that noise added to the PD action
    drift: ClassVar[tuple[float, float]]  # (noise gain, velocity damping), noise-only episodes

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.noise_only = rng.random() < 0.25
        self._noise = np.zeros(2)
        self._left = 0
        self._target = np.zeros(2)
        self._kp = self._kd = 0.0

    @abstractmethod
    def _state(self, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(position, velocity)``, ``(2,)`` each, from a step's ``info``."""

    @abstractmethod
    def _new_target(self, position: np.ndarray) -> np.ndarray:
        """A random target to steer ``position`` to."""

    def _error(self, position: np.ndarray) -> np.ndarray:
        return self._target - position

    def act(self, info: dict[str, Any]) -> np.ndarray:
        rng = self.rng
        pos, vel = self._state(info)
        self._noise = 0.7 * self._noise + 0.3 * rng.normal(0.0, self.noise_std, 2)
        if self.noise_only:
            gain, damping = self.drift
            return np.clip(gain * self._noise - damping * vel, -1, 1).astype(np.float32)
        if self._left <= 0:
            self._left = int(rng.integers(*self.hold))
            self._target = self._new_target(pos)
            self._kp, self._kd = rng.uniform(*self.kp), rng.uniform(*self.kd)
        self._left -= 1
        action = self._kp * self._error(pos) - self._kd * vel + self.noise_gain * self._noise
        return np.clip(action, -1, 1).astype(np.float32)


class MujocoTask(gym.Env, ABC):
    """Base class: observations ``(size, size, 6)`` uint8 (two frames), actions ``(A,)`` in
    ``[-1, 1]``. Subclasses set ``self._sim`` (a Gymnasium ``MujocoEnv`` that renders
    ``rgb_array`` frames) and implement :meth:`_advance` and the task methods."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}
    layout_fields: ClassVar[tuple[str, ...]] = ()
    layout: ClassVar[tuple[int, ...]] = ()
    fork_safe: ClassVar[bool] = False  # its MuJoCo renderer: collection spawns its workers

    def __init__(
        self,
        world: str,
        action_dim: int,
        render_mode: str | None,
        action_noise: float,
        max_episode_steps: int,
        size: int,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise JepalabError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        if not (np.isfinite(action_noise) and action_noise >= 0):
            raise JepalabError(f"action_noise must be a finite number >= 0, got {action_noise}")
        if max_episode_steps < 1:
            raise JepalabError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        require_mujoco(world)
        self.render_mode = render_mode
        self.action_noise = float(action_noise)
        self.max_episode_steps = int(max_episode_steps)
        self.size = int(size)
        self.observation_space = gym.spaces.Box(0, 255, (self.size, self.size, 6), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self._frames = np.zeros((self.size, self.size, 6), np.uint8)
        self._steps = 0
        self._started = self._has_task = False
        self._sim: Any = None

    @property
    def sim(self) -> Any:
        """The Gymnasium ``MujocoEnv`` underneath (its ``model`` and ``data``): for tests and
        diagnosis scripts that read or set the simulator's own state."""
        return self._sim

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _advance(self, action: np.ndarray) -> None:
        """Apply the checked, noisy, clipped ``(A,)`` action for one step."""

    def _info(self) -> dict[str, Any]:
        return {}

    def _observe(self, fresh: bool = False) -> np.ndarray:
        """Render; the new observation is the previous frame (the current one if ``fresh``)
        and the current one."""
        viewer = self._sim.mujoco_renderer.viewer
        if viewer is not None:  # closing another world unbinds every context: rebind ours
            viewer.make_context_current()
        frame = self._sim.render()
        previous = frame if fresh else self._frames[..., 3:]
        self._frames = np.concatenate([previous, frame], -1)
        return self._frames.copy()

    def _begin(self, task: bool) -> np.ndarray:
        """Start an episode (``task``: one with a goal) from the state set in the sim."""
        self._steps, self._started, self._has_task = 0, True, task
        return self._observe(fresh=True)

    # -- Gymnasium API -------------------------------------------------------------------

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (clipped to ``[-1, 1]``, plus noise) for one step."""
        if not self._started:
            raise JepalabError("call reset() or reset_task() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise JepalabError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.isfinite(a).all():
            raise JepalabError(f"action must be finite, got {a.tolist()}")
        if self.action_noise > 0:
            a = a + self.np_random.normal(0.0, self.action_noise, a.shape)
        self._advance(np.clip(a, -1.0, 1.0))
        self._steps += 1
        obs, truncated = self._observe(), self._steps >= self.max_episode_steps
        if not self._has_task:
            return obs, 0.0, False, truncated, self._info()
        return obs, -self.goal_distance(), self.is_success(), truncated, self._info()

    def render(self) -> np.ndarray:
        """The current frame ``(size, size, 3)``."""
        return self._frames[..., 3:].copy()

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()

    # -- GoalTask ------------------------------------------------------------------------

    def _check_task(self) -> None:
        if not self._has_task:
            raise JepalabError("no task: call reset_task() first")

    @abstractmethod
    def goal_distance(self) -> float:
        """Distance from the agent to the goal, in metres."""

    @abstractmethod
    def is_success(self) -> bool:
        """Whether the goal counts as reached."""

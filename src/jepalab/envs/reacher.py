"""Gymnasium's MuJoCo ``Reacher-v5`` from pixels, as a goal-image task.

The two-joint arm is seen from straight above (a 64x64 picture, about 125 px per metre;
the arm reaches 0.21 m). Its target sphere is hidden: the goal is given as a picture of the
arm itself, at rest at the goal configuration, as in the other worlds.

The arm is torque driven with little damping: where it will be depends on how fast it is
moving, which one picture does not show. So an observation is the last two frames stacked
on the channel axis, ``(64, 64, 6)`` uint8 (previous RGB, then current RGB; after a reset
both are the same frame), the frame stacking of DQN: velocity is visible as the difference.

Task (:meth:`ReacherTask.reset_task`): start and goal are independent random
configurations at rest, the joints uniform in ``[-pi, pi)`` and ``[-2.8, 2.8]`` rad, the
fingertips at least 0.05 m apart. Success: the fingertip within ``tolerance`` (0.03 m,
about 4 px, close to Two-Rooms' 4.5 px) of where it is in the goal picture *and at rest*
(slower than 0.15 m/s, under 0.4 px per step), within ``max_episode_steps`` (100 steps of
0.02 s). Random torques succeed in 4% of tasks (200 evaluation tasks). Needs MuJoCo:
``pip install jepalab[mujoco]`` and ``MUJOCO_GL=egl`` on a headless machine.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from jepalab.errors import JepalabError

__all__ = ["ReacherExplorer", "ReacherTask"]

# Straight down at the arm's root; the arm (0.21 m) fills about 3/4 of the half-width.
TOP_DOWN = {"trackbodyid": -1, "distance": 0.62, "elevation": -90.0, "azimuth": 90.0}
JOINT1_LIMIT = 2.8  # rad; the elbow's own range is +-3.0
MIN_SEPARATION = 0.05  # m between start and goal fingertips
# At rest to the eye: the fingertip moves under 0.4 px (3 mm) per step. Without it a
# flailing arm "reaches" by sweeping through the goal (random torques: 46% of 50 tasks).
STILL_SPEED = 0.15  # m/s


class ReacherExplorer:
    """Exploration for collection: a noisy PD controller towards random arm configurations.

    Every 5-25 steps it picks a new configuration and new gains (from sluggish to
    overshooting); torques get smoothed Gaussian noise, and one episode in four is pure
    smoothed noise. The data thus holds swings, stops, overshoots and arms at rest: what a
    planner that must bring the arm to a halt at a goal needs the model to know.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.noise_only = rng.random() < 0.25
        self._noise = np.zeros(2)
        self._left = 0
        self._target = np.zeros(2)
        self._kp = self._kd = 0.0

    def act(self, info: dict[str, Any]) -> np.ndarray:
        rng = self.rng
        q, qd = np.asarray(info["qpos"]), np.asarray(info["qvel"])
        self._noise = 0.7 * self._noise + 0.3 * rng.normal(0.0, 0.6, 2)
        if self.noise_only:  # damped, or it spins up to speeds no task needs
            return np.clip(1.5 * self._noise - 0.15 * qd, -1, 1).astype(np.float32)
        if self._left <= 0:
            self._left = int(rng.integers(5, 26))
            self._target = np.array(
                [rng.uniform(-np.pi, np.pi), rng.uniform(-JOINT1_LIMIT, JOINT1_LIMIT)]
            )
            self._kp, self._kd = rng.uniform(0.3, 1.5), rng.uniform(0.08, 0.4)
        self._left -= 1
        err = self._target - q
        err[0] = (err[0] + np.pi) % (2 * np.pi) - np.pi  # the shoulder turns freely
        torque = self._kp * err - self._kd * qd + 0.5 * self._noise
        return np.clip(torque, -1, 1).astype(np.float32)


class ReacherTask(gym.Env):
    """Reacher-v5 from above, observations ``(size, size, 6)`` uint8 (two frames).

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (frames are rendered either way).
        action_noise: std of Gaussian noise added to each torque (actions are in [-1, 1]).
        max_episode_steps: steps after which an episode is truncated (0.02 s each).
        size: the picture's side in pixels.
        tolerance: success radius around the goal fingertip, in metres.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}
    layout_fields: ClassVar[tuple[str, ...]] = ()
    layout: ClassVar[tuple[int, ...]] = ()
    explorer: ClassVar[type[ReacherExplorer]] = ReacherExplorer  # collection's scripted policy
    fork_safe: ClassVar[bool] = False  # its MuJoCo renderer: collection spawns its workers

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.0,
        max_episode_steps: int = 100,
        size: int = 64,
        tolerance: float = 0.03,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise JepalabError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        if not (np.isfinite(action_noise) and action_noise >= 0):
            raise JepalabError(f"action_noise must be a finite number >= 0, got {action_noise}")
        if max_episode_steps < 1:
            raise JepalabError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless told otherwise
        try:
            import mujoco  # noqa: F401
        except ImportError:
            raise JepalabError(
                "the reacher world needs MuJoCo: pip install 'jepalab[mujoco]'"
            ) from None
        self.render_mode = render_mode
        self.action_noise = float(action_noise)
        self.max_episode_steps = int(max_episode_steps)
        self.size, self.tolerance = int(size), float(tolerance)
        self._sim = gym.make(
            "Reacher-v5",
            render_mode="rgb_array",
            width=self.size,
            height=self.size,
            default_camera_config=TOP_DOWN,
        ).unwrapped
        model = self._sim.model
        model.geom_rgba[model.geom("target").id, 3] = 0.0  # the goal is a picture, not a ball
        self._fingertip = model.body("fingertip").id
        self.observation_space = gym.spaces.Box(0, 255, (self.size, self.size, 6), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._frames = np.zeros((self.size, self.size, 6), np.uint8)
        self._goal: np.ndarray | None = None
        self._goal_arm = np.zeros(2)
        self._steps, self._speed = 0, 0.0

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """``(6,)`` float32: fingertip ``(x, y)`` in m, joint angles and velocities."""
        d = self._sim.data
        return np.concatenate([self.fingertip, d.qpos[:2], d.qvel[:2]]).astype(np.float32)

    @property
    def fingertip(self) -> np.ndarray:
        """The fingertip's ``(x, y)`` in metres (the arm's root at the origin)."""
        return self._sim.data.xpos[self._fingertip, :2].copy()

    def _set_arm(self, q: np.ndarray) -> None:
        qpos = self._sim.init_qpos.copy()
        qpos[:2] = q
        self._sim.set_state(qpos, np.zeros_like(self._sim.init_qvel))

    def _random_arm(self) -> np.ndarray:
        u = self.np_random.uniform
        return np.array([u(-np.pi, np.pi), u(-JOINT1_LIMIT, JOINT1_LIMIT)])

    def _observe(self, fresh: bool = False) -> np.ndarray:
        frame = self._sim.render()
        previous = frame if fresh else self._frames[..., 3:]
        self._frames = np.concatenate([previous, frame], -1)
        return self._frames.copy()

    def _info(self) -> dict[str, Any]:
        d = self._sim.data
        return {"qpos": d.qpos[:2].copy(), "qvel": d.qvel[:2].copy(), "fingertip": self.fingertip}

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A random arm configuration at rest, no goal."""
        super().reset(seed=seed)
        self._set_arm(self._random_arm())
        self._goal, self._steps, self._speed = None, 0, 0.0
        return self._observe(fresh=True), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply torques ``(2,)`` in [-1, 1] (clipped, plus noise) for 0.02 s."""
        if not self._frames.any():
            raise JepalabError("call reset() or reset_task() before step()")
        torque = np.asarray(action, dtype=np.float64)
        if torque.shape != (2,):
            raise JepalabError(f"action must have shape (2,), got {torque.shape}")
        if not np.isfinite(torque).all():
            raise JepalabError(f"action must be finite, got {torque.tolist()}")
        if self.action_noise > 0:
            torque = torque + self.np_random.normal(0.0, self.action_noise, 2)
        before = self.fingertip
        self._sim.do_simulation(np.clip(torque, -1.0, 1.0), self._sim.frame_skip)
        self._speed = float(np.linalg.norm(self.fingertip - before)) / self._sim.dt
        self._steps += 1
        obs, truncated = self._observe(), self._steps >= self.max_episode_steps
        if self._goal is None:
            return obs, 0.0, False, truncated, self._info()
        return obs, -self.goal_distance(), self.is_success(), truncated, self._info()

    def render(self) -> np.ndarray:
        """The current frame ``(size, size, 3)``."""
        return self._frames[..., 3:].copy()

    def close(self) -> None:
        self._sim.close()

    # -- GoalTask ------------------------------------------------------------------------

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw goal and start arms from ``seed``; return ``(start_obs, goal_obs)``."""
        super().reset(seed=seed)
        self._goal_arm = self._random_arm()  # joint angles, for tests and debugging
        self._set_arm(self._goal_arm)
        goal_obs, goal = self._observe(fresh=True), self.fingertip
        while True:
            q = self._random_arm()
            self._set_arm(q)
            if np.linalg.norm(self.fingertip - goal) >= MIN_SEPARATION:
                break
        self._goal, self._steps, self._speed = goal, 0, 0.0
        return self._observe(fresh=True), goal_obs

    def goal_distance(self) -> float:
        """Fingertip to goal fingertip, in metres."""
        if self._goal is None:
            raise JepalabError("no task: call reset_task() first")
        return float(np.linalg.norm(self.fingertip - self._goal))

    def is_success(self) -> bool:
        """Fingertip within ``tolerance`` of the goal and at rest."""
        return self.goal_distance() < self.tolerance and self._speed < STILL_SPEED

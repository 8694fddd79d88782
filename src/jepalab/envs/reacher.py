"""Gymnasium's MuJoCo ``Reacher-v5`` from pixels, as a goal-image task.

The two-joint arm is seen from straight above (a 64x64 picture, about 125 px per metre;
the arm reaches 0.21 m). Its target sphere is hidden: the goal is given as a picture of the
arm itself, at rest at the goal configuration, as in the other worlds.

The arm is torque driven with little damping: where it will be depends on how fast it is
moving, so an observation is the last two frames stacked, ``(64, 64, 6)`` uint8
(:mod:`jepalab.envs.mujoco_task`): velocity is visible as the difference.

Task (:meth:`ReacherTask.reset_task`): start and goal are independent random
configurations at rest, the joints uniform in ``[-pi, pi)`` and ``[-2.8, 2.8]`` rad, the
fingertips at least 0.05 m apart. Success: the fingertip within ``tolerance`` (0.03 m,
about 4 px, close to Two-Rooms' 4.5 px) of where it is in the goal picture *and at rest*
(slower than 0.15 m/s, under 0.4 px per step), within ``max_episode_steps`` (100 steps of
0.02 s). Random torques succeed in 4% of tasks (200 evaluation tasks). Needs MuJoCo:
``pip install jepalab[mujoco]`` and ``MUJOCO_GL=egl`` on a headless machine.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from jepalab.envs.mujoco_task import MujocoTask, PDExplorer

__all__ = ["ReacherExplorer", "ReacherTask"]

# Straight down at the arm's root; the arm (0.21 m) fills about 3/4 of the half-width.
# The look-at point is set, not left to Gymnasium: its offscreen viewer aims at the median
# of the geoms' positions when it first renders, so every environment, its first picture
# drawn at another arm and target, had its own camera (up to 2.5 cm, 3 px, off the root).
TOP_DOWN = {
    "trackbodyid": -1,
    "lookat": np.array([0.0, 0.0, 0.01]),  # the root, at the links' height
    "distance": 0.62,
    "elevation": -90.0,
    "azimuth": 90.0,
}
JOINT1_LIMIT = 2.8  # rad; the elbow's own range is +-3.0
MIN_SEPARATION = 0.05  # m between start and goal fingertips
# At rest to the eye: the fingertip moves under 0.4 px (3 mm) per step. Without it a
# flailing arm "reaches" by sweeping through the goal (random torques: 46% of 50 tasks).
STILL_SPEED = 0.15  # m/s


class ReacherExplorer(PDExplorer):
    """Collection's scripted policy: a noisy PD controller (:class:`PDExplorer`) of the
    joints towards random arm configurations, every 5-25 steps."""

    hold, kp, kd = (5, 26), (0.3, 1.5), (0.08, 0.4)
    noise_std, noise_gain, drift = 0.6, 0.5, (1.5, 0.15)

    def _state(self, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(info["qpos"]), np.asarray(info["qvel"])

    def _new_target(self, position: np.ndarray) -> np.ndarray:
        u = self.rng.uniform
        return np.array([u(-np.pi, np.pi), u(-JOINT1_LIMIT, JOINT1_LIMIT)])

    def _error(self, position: np.ndarray) -> np.ndarray:
        err = self._target - position
        err[0] = (err[0] + np.pi) % (2 * np.pi) - np.pi  # the shoulder turns freely
        return err


class ReacherTask(MujocoTask):
    """Reacher-v5 from above, observations ``(size, size, 6)`` uint8 (two frames).

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (frames are rendered either way).
        action_noise: std of Gaussian noise added to each torque (actions are in [-1, 1]).
        max_episode_steps: steps after which an episode is truncated (0.02 s each).
        size: the picture's side in pixels.
        tolerance: success radius around the goal fingertip, in metres.
    """

    explorer: ClassVar[type[ReacherExplorer]] = ReacherExplorer  # collection's scripted policy

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.0,
        max_episode_steps: int = 100,
        size: int = 64,
        tolerance: float = 0.03,
    ) -> None:
        super().__init__("reacher", 2, render_mode, action_noise, max_episode_steps, size)
        self.tolerance = float(tolerance)
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
        self._goal = np.zeros(2)
        self._goal_arm = np.zeros(2)
        self._speed = 0.0

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

    @property
    def goal(self) -> np.ndarray:
        """The task's goal fingertip ``(x, y)`` in metres."""
        self._check_task()
        return self._goal.copy()

    @property
    def goal_arm(self) -> np.ndarray:
        """The task's goal joint angles ``(2,)`` in radians (the arm drawn in its goal
        picture)."""
        self._check_task()
        return self._goal_arm.copy()

    def picture_at(self, q: np.ndarray) -> np.ndarray:
        """Put the arm at rest at joint angles ``q (2,)`` and return its observation
        ``(size, size, 6)``, both frames of it at rest there: how a diagnosis sees a
        configuration without stepping to it."""
        self._set_arm(q)
        return self._observe(fresh=True)

    def start_at(self, q: np.ndarray) -> np.ndarray:
        """Start an episode of the current task with the arm at rest at ``q (2,)`` instead
        of the task's start; its first observation."""
        self._check_task()
        return self._start(q, task=True)

    def _start(self, q: np.ndarray, task: bool) -> np.ndarray:
        """Begin an episode (``task``: one with a goal) with the arm at rest at ``q``."""
        self._set_arm(q)
        self._speed = 0.0
        return self._begin(task)

    def _set_arm(self, q: np.ndarray) -> None:
        qpos = self._sim.init_qpos.copy()
        qpos[:2] = q
        self._sim.set_state(qpos, np.zeros_like(self._sim.init_qvel))

    def _random_arm(self) -> np.ndarray:
        u = self.np_random.uniform
        return np.array([u(-np.pi, np.pi), u(-JOINT1_LIMIT, JOINT1_LIMIT)])

    def _info(self) -> dict[str, Any]:
        d = self._sim.data
        return {"qpos": d.qpos[:2].copy(), "qvel": d.qvel[:2].copy(), "fingertip": self.fingertip}

    def _advance(self, action: np.ndarray) -> None:
        before = self.fingertip
        self._sim.do_simulation(action, self._sim.frame_skip)  # torques, 0.02 s
        self._speed = float(np.linalg.norm(self.fingertip - before)) / self._sim.dt

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A random arm configuration at rest, no goal."""
        super().reset(seed=seed)
        return self._start(self._random_arm(), task=False), self._info()

    # -- GoalTask ------------------------------------------------------------------------

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw goal and start arms from ``seed``; return ``(start_obs, goal_obs)``."""
        super().reset(seed=seed)
        self._goal_arm = self._random_arm()  # joint angles, for tests and debugging
        goal_obs, self._goal = self.picture_at(self._goal_arm), self.fingertip
        while True:
            q = self._random_arm()
            self._set_arm(q)
            if np.linalg.norm(self.fingertip - self._goal) >= MIN_SEPARATION:
                break
        return self._start(q, task=True), goal_obs

    def goal_distance(self) -> float:
        """Fingertip to goal fingertip, in metres."""
        self._check_task()
        return float(np.linalg.norm(self.fingertip - self._goal))

    def is_success(self) -> bool:
        """Fingertip within ``tolerance`` of the goal and at rest."""
        return self.goal_distance() < self.tolerance and self._speed < STILL_SPEED

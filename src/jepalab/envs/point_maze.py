"""Gymnasium-Robotics' ``PointMaze`` (the D4RL maze2d point mass) from pixels, as a
goal-image task.

A force-actuated ball rolls through a fixed maze (``PointMaze_UMaze-v3`` by default, or
``PointMaze_Medium-v3``), seen from straight above in a 64x64 picture (about 17 px per
metre in the U-maze: the ball is 3 px across, a cell 17 px). Its target ball is hidden: the
goal is a picture of the ball itself at the goal. The ball has little damping (it keeps
about 80% of its speed over a second) and a speed limit of 5 m/s, so where it goes depends on
its velocity: observations are the last two frames stacked, ``(64, 64, 6)`` uint8
(:mod:`jepalab.envs.mujoco_task`).

Tasks are PointMaze's own (:meth:`PointMazeTask.reset_task` runs the maze env's reset): a
goal cell and a different start cell, uniformly among the free cells, each point jittered
by up to 0.25 m; success is PointMaze's, the ball within 0.45 m of the goal. One step
applies the force for 3 simulator steps (0.03 s; the action repeat of DINO-WM's maze), so
the 100-step budget is the 300 simulator steps PointMaze gives the U-maze (200 steps, 600,
in the medium maze). Needs ``pip install jepalab[mujoco]`` (MuJoCo and
Gymnasium-Robotics).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from jepalab.envs.mujoco_task import MujocoTask, PDExplorer
from jepalab.errors import JepalabError

__all__ = ["MAZES", "PointMazeExplorer", "PointMazeTask"]

MAZES = {"umaze": ("PointMaze_UMaze-v3", 300), "medium": ("PointMaze_Medium-v3", 600)}
"""Maze name -> (Gymnasium-Robotics id, simulator steps PointMaze allows an episode)."""
REPEAT = 3  # simulator steps (0.01 s each) per step
SUCCESS_RADIUS = 0.45  # m: PointMaze's own success test
FOV_WIDTH = 0.828  # width seen per metre of camera distance (MuJoCo's 45 degree field of view)


class PointMazeExplorer(PDExplorer):
    """Collection's scripted policy: a noisy PD controller (:class:`PDExplorer`) of the ball
    towards random points up to 1.5 m away, every 4-20 steps; it runs, brakes, bounces off
    walls and stops, not only drifts as random forces do."""

    hold, kp, kd = (4, 21), (0.5, 2.5), (0.2, 0.8)
    noise_std, noise_gain, drift = 0.8, 0.4, (1.0, 0.1)

    def _state(self, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(info["pos"]), np.asarray(info["vel"])

    def _new_target(self, position: np.ndarray) -> np.ndarray:
        return position + self.rng.uniform(-1.5, 1.5, 2)


class PointMazeTask(MujocoTask):
    """PointMaze from above, observations ``(size, size, 6)`` uint8 (two frames), actions
    ``(2,)`` forces in ``[-1, 1]``.

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (frames are rendered either way).
        action_noise: std of Gaussian noise added to each force.
        max_episode_steps: steps (of 0.03 s) after which an episode is truncated; by
            default PointMaze's own budget.
        size: the picture's side in pixels.
        maze: ``"umaze"`` or ``"medium"`` (:data:`MAZES`).
    """

    explorer: ClassVar[type[PointMazeExplorer]] = PointMazeExplorer

    def __init__(
        self,
        render_mode: str | None = None,
        action_noise: float = 0.0,
        max_episode_steps: int | None = None,
        size: int = 64,
        maze: str = "umaze",
    ) -> None:
        if maze not in MAZES:
            raise JepalabError(f"unknown maze {maze!r}; choose one of {sorted(MAZES)}")
        gym_id, sim_steps = MAZES[maze]
        steps = sim_steps // REPEAT if max_episode_steps is None else max_episode_steps
        super().__init__("point-maze", 2, render_mode, action_noise, steps, size)
        try:  # it prints a notice about other environments on import; not ours to show
            with contextlib.redirect_stderr(io.StringIO()):
                import gymnasium_robotics
        except ImportError:
            raise JepalabError(
                "the point-maze world needs Gymnasium-Robotics: pip install 'jepalab[mujoco]'"
            ) from None
        gym.register_envs(gymnasium_robotics)
        self.maze = maze
        self._maze_env = gym.make(
            gym_id, continuing_task=False, render_mode="rgb_array", width=size, height=size
        ).unwrapped
        self._sim = self._maze_env.point_env
        # Straight down at the maze's centre, its free cells filling the picture.
        seen = self._maze_env.maze.map_length - 2 + 0.8  # metres across, a rim of wall
        self._sim.mujoco_renderer.default_cam_config = {
            "distance": seen / FOV_WIDTH,
            "elevation": -90.0,
            "azimuth": 90.0,
            "lookat": np.zeros(3),
        }
        self._sim.model.site_rgba[self._maze_env.target_site_id, 3] = 0.0  # goal: a picture
        self._goal = np.zeros(2)

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """``(4,)`` float32: the ball's ``(x, y)`` in m and its velocity in m/s."""
        d = self._sim.data
        return np.concatenate([d.qpos[:2], d.qvel[:2]]).astype(np.float32)

    @property
    def position(self) -> np.ndarray:
        return self._sim.data.qpos[:2].copy()

    @property
    def goal(self) -> np.ndarray:
        """The task's goal ``(x, y)`` in metres (PointMaze's own)."""
        self._check_task()
        return self._goal.copy()

    def start_at(self, xy: np.ndarray) -> np.ndarray:
        """Start an episode of the current task with the ball at rest at ``xy (2,)`` (m)
        instead of the task's start; its first observation."""
        self._check_task()
        return self._start(xy, task=True)

    def _start(self, xy: np.ndarray, task: bool) -> np.ndarray:
        """Begin an episode (``task``: one with a goal) with the ball at rest at ``xy``."""
        self._place(xy)
        return self._begin(task)

    def _place(self, xy: np.ndarray) -> None:
        """The ball at ``xy``, at rest."""
        qpos = self._sim.init_qpos.copy()
        qpos[:2] = xy
        self._sim.set_state(qpos, np.zeros_like(self._sim.init_qvel))

    def _info(self) -> dict[str, Any]:
        return {"pos": self.position, "vel": self._sim.data.qvel[:2].copy()}

    def _advance(self, action: np.ndarray) -> None:
        for _ in range(REPEAT):
            self._sim.step(action)  # PointMaze's own: speed limit, then 0.01 s of force

    # -- Gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The ball at rest where PointMaze would start it, no goal."""
        super().reset(seed=seed)
        self._maze_env.reset(seed=int(self.np_random.integers(2**31)))
        return self._start(self._maze_env.reset_pos, task=False), self._info()

    # -- GoalTask ------------------------------------------------------------------------

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """PointMaze's goal and start for ``seed``; return ``(start_obs, goal_obs)``."""
        super().reset(seed=seed)
        self._maze_env.reset(seed=seed)
        self._goal = self._maze_env.goal.copy()
        self._place(self._goal)
        goal_obs = self._observe(fresh=True)
        return self._start(self._maze_env.reset_pos, task=True), goal_obs

    def goal_distance(self) -> float:
        """Ball to goal, in metres."""
        self._check_task()
        return float(np.linalg.norm(self.position - self._goal))

    def is_success(self) -> bool:
        """PointMaze's test: the ball within 0.45 m of the goal."""
        return self.goal_distance() <= SUCCESS_RADIUS

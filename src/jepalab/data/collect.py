"""Exploration data: roll out an exploration policy and write the episodes to disk.

A pure random walk rarely finds the door, and a world model never shown a door crossing
cannot plan through one; one never shown a wall stopping the agent will happily plan
through it. So the policy mixes three behaviours, chosen once per episode:

- **random walk with momentum** ``a_t = m a_{t-1} + (1 - m) u_t``, where ``u_t`` has a
  uniformly random direction and a speed uniform in ``[0, max_speed]``: smooth, varied
  motion within a room;
- **waypoint following** (probability ``p_waypoint``): head for a jittered point in front
  of the door, through it, then to random points in the other room, with the same momentum
  and noisy headings, so door crossings are common (in the maze: through every door on the
  route to a random other room);
- **seeking** (probability ``p_seek``): head straight for random points anywhere in the
  world at high speed, walls or not, so the agent often runs into the walls, is stopped,
  slides along them and sometimes slips through the door: the contacts a planner must
  learn to respect.

The policy reads the true state from ``info`` (``pos``, and ``wall_x``, ``door_y`` in
Two-Rooms or the door ``layout`` in the maze): it is the data-collecting script, not the
agent. Episode ``i`` uses seed ``seed + i`` for the
environment and the policy, so a dataset does not depend on how many workers made it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jepalab.data.dataset import EpisodeDataset, EpisodeWriter
from jepalab.envs import make_env, maze
from jepalab.envs.two_rooms import room_of
from jepalab.errors import ConfigError, DataError

# Frames generated per worker task: bounds the memory of results in flight.
_CHUNK_FRAMES = 2048
# Policy seeds are (episode seed, this) so they differ from the environment's stream.
_POLICY_STREAM = 0x5EED


class ExplorationPolicy:
    """The data-collection policy described in the module docstring.

    Args:
        rng: the episode's random generator.
        max_speed: the largest action norm.
        momentum: ``m``, the weight of the previous action.
        p_waypoint: probability that an episode follows waypoints through the door.
        p_seek: probability that an episode seeks random points through the walls.
        heading_noise: std of the random turn of each waypoint-following step, in radians.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        max_speed: float = 2.45,
        momentum: float = 0.5,
        p_waypoint: float = 0.4,
        p_seek: float = 0.4,
        heading_noise: float = 0.4,
    ) -> None:
        self.rng = rng
        self.max_speed = max_speed
        self.momentum = momentum
        self.p_waypoint = p_waypoint
        self.p_seek = p_seek
        self._seeking = False
        self.heading_noise = heading_noise
        self._action = np.zeros(2)
        self._waypoints: deque[np.ndarray] = deque()
        self._target_room = 0
        self._wall_x = 0.0
        self._final_point = self._point_in_target_room

    def reset(self, info: dict[str, Any]) -> None:
        """Start an episode from the environment's reset ``info``; draws the mode."""
        self._action = np.zeros(2)
        self._waypoints.clear()
        mode = self.rng.random()
        self._seeking = mode >= 1.0 - self.p_seek
        if mode >= self.p_waypoint:
            return
        if "wall_x" not in info:
            self._maze_route(info)
            return
        self._final_point = self._point_in_target_room
        self._wall_x, door_y = float(info["wall_x"]), float(info["door_y"])
        here = room_of(info["pos"], self._wall_x)
        self._target_room = 1 - here
        toward = 1.0 if here == 0 else -1.0
        # Stay within +-2 px of the door's centre: the 9 px door leaves the 1 px agent
        # 3.5 px either way, so jitter plus heading noise still mostly fits through.
        y = door_y + self.rng.uniform(-2.0, 2.0)
        self._waypoints.extend(
            np.array([self._wall_x + side * 5.0, y]) for side in (-toward, toward)
        )

    def _maze_route(self, info: dict[str, Any]) -> None:
        doors, here = info["layout"], maze.room_of(info["pos"])
        rooms = [(r, c) for r in range(maze.GRID) for c in range(maze.GRID) if (r, c) != here]
        target = rooms[int(self.rng.integers(len(rooms)))]
        route = maze.room_route(doors, here, target)
        if route is None:  # a sealed-off room: wander instead
            return
        self._waypoints.extend(maze.door_waypoints(doors, route, self.rng))
        self._final_point = lambda: maze.point_in_room(target, self.rng)

    def act(self, info: dict[str, Any]) -> np.ndarray:
        """The ``(2,)`` float32 action for the current step, norm at most ``max_speed``."""
        if self._seeking:
            u = self._seek(np.asarray(info["pos"], dtype=np.float64))
        elif self._waypoints:
            u = self._toward_waypoint(np.asarray(info["pos"], dtype=np.float64))
        else:
            u = self._direction(self.rng.uniform(0, 2 * np.pi)) * self.rng.uniform(
                0, self.max_speed
            )
        action = self.momentum * self._action + (1 - self.momentum) * u
        norm = float(np.hypot(*action))
        if norm > self.max_speed:
            action *= self.max_speed / norm
        self._action = action
        return action.astype(np.float32)

    def _toward_waypoint(self, pos: np.ndarray) -> np.ndarray:
        if np.hypot(*(self._waypoints[0] - pos)) < 2.0:
            self._waypoints.popleft()
            if not self._waypoints:
                self._waypoints.append(self._final_point())
        dx, dy = self._waypoints[0] - pos
        heading = np.arctan2(dy, dx) + self.rng.normal(0, self.heading_noise)
        return self._direction(heading) * self.rng.uniform(0.5, 1.0) * self.max_speed

    def _seek(self, pos: np.ndarray) -> np.ndarray:
        # A new target when the last is reached or, 1 time in 20, at random: a target
        # behind a wall is pushed against for a while, then given up. Targets reach 10 px
        # beyond the image, so the border and its corners are pushed against too: a model
        # never shown the border stopping the agent imagines a way round the inner wall
        # outside the image, and the planner takes it.
        if (
            not self._waypoints
            or self.rng.random() < 0.05
            or (np.hypot(*(self._waypoints[0] - pos)) < 2.0)
        ):
            self._waypoints.clear()
            self._waypoints.append(self.rng.uniform(-10.0, 74.0, size=2))
        dx, dy = self._waypoints[0] - pos
        heading = np.arctan2(dy, dx) + self.rng.normal(0, self.heading_noise)
        return self._direction(heading) * self.rng.uniform(0.6, 1.0) * self.max_speed

    def _point_in_target_room(self) -> np.ndarray:
        # 3 px from walls: the agent (radius 1) can reach it without touching anything.
        if self._target_room == 1:
            x_lo, x_hi = self._wall_x + 4.5, 59.5
        else:
            x_lo, x_hi = 4.5, self._wall_x - 4.5
        return self.rng.uniform([x_lo, 4.5], [x_hi, 59.5])

    @staticmethod
    def _direction(angle: float) -> np.ndarray:
        return np.array([np.cos(angle), np.sin(angle)])


def collect(
    env_name: str,
    path: str | os.PathLike[str],
    episodes: int,
    episode_len: int = 100,
    seed: int = 0,
    workers: int = 2,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> Path:
    """Collect ``episodes`` exploration episodes of ``episode_len`` frames into ``path``.

    Episode ``i`` uses seed ``seed + i``; the result is the same for any ``workers``.
    Episodes are generated in ``workers`` processes (1: in this process), in chunks, and
    streamed to an :class:`EpisodeWriter` in order, so memory stays bounded. Records
    states, layouts and the seed range ``[seed, seed + episodes)``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    for name, value, low in (("episodes", episodes, 1), ("episode_len", episode_len, 2)):
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    env_kwargs = dict(env_kwargs or {})
    env = make_env(env_name, **env_kwargs)
    env.reset(seed=seed)
    per_job = max(1, min(_CHUNK_FRAMES // episode_len, -(-episodes // workers)))
    jobs = [
        (env_name, env_kwargs, range(start, min(start + per_job, seed + episodes)), episode_len)
        for start in range(seed, seed + episodes, per_job)
    ]
    writer = EpisodeWriter(
        path,
        env=env_name,
        obs_shape=env.observation_space.shape,
        action_dim=env.action_space.shape[0],
        state_dim=env.state.shape[0],
        layout_fields=env.layout_fields,
        seed_start=seed,
        seed_stop=seed + episodes,
    )
    with (
        _worker_pool(workers) as pool,
        writer,
        tqdm(total=episodes, desc="collect", unit="ep", disable=not progress) as bar,
    ):
        for chunk in _in_order(pool, jobs, in_flight=2 * workers):
            for episode in chunk:
                writer.add_episode(**episode)
                bar.update()
    if progress and "wall_x" in env.layout_fields:
        with EpisodeDataset(writer.path) as ds:
            rate = door_crossing_rate(ds)
        print(f"wrote {writer.path}: {episodes} episodes; {rate:.0%} cross the door")
    return writer.path


def door_crossing_rate(dataset: EpisodeDataset) -> float:
    """Fraction of episodes in which the agent changes room (two-rooms data)."""
    if "wall_x" not in dataset.layout_fields or dataset.state_dim < 1:
        raise DataError(f"{dataset.path} has no wall_x layout or no states to find rooms from")
    wall_x = dataset.layouts[:, dataset.layout_fields.index("wall_x")]
    x = dataset.states[:, 0]
    starts = dataset.episode_starts
    # Same rule as room_of: right room when x >= wall_x.
    crossed = [
        np.unique(x[starts[e] : starts[e + 1]] >= wall_x[e]).size > 1
        for e in range(dataset.num_episodes)
    ]
    return float(np.mean(crossed))


@contextlib.contextmanager
def _worker_pool(workers: int) -> Iterator[Pool | None]:
    """A process pool of ``workers``, or ``None`` to work in this process."""
    if workers == 1:
        yield None
        return
    # fork starts in milliseconds where spawn re-imports torch in every worker (seconds).
    # The workers run only numpy, and collect() makes the pool before it opens the output
    # file or starts the progress bar's thread, so nothing half-held is forked.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
        yield pool


def _in_order(
    pool: Pool | None, jobs: Sequence[tuple], in_flight: int
) -> Iterator[list[dict[str, Any]]]:
    """Results of ``jobs`` in order, with at most ``in_flight`` jobs submitted and unread."""
    if pool is None:
        for job in jobs:
            yield _episodes(*job)
        return
    pending: deque[AsyncResult] = deque()
    for job in jobs:
        pending.append(pool.apply_async(_episodes, job))
        if len(pending) >= in_flight:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _init_worker() -> None:
    # Workers only run numpy; torch's thread pool would fight the other workers for cores.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _episodes(
    env_name: str, env_kwargs: dict[str, Any], seeds: range, episode_len: int
) -> list[dict[str, Any]]:
    """Roll out one episode per seed: ``add_episode`` keyword arguments for each."""
    env = make_env(env_name, **env_kwargs)
    max_speed = float(np.min(env.action_space.high))
    out = []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        policy = ExplorationPolicy(np.random.default_rng([seed, _POLICY_STREAM]), max_speed)
        policy.reset(info)
        frames = np.empty((episode_len, *obs.shape), np.uint8)
        actions = np.empty((episode_len - 1, env.action_space.shape[0]), np.float32)
        states = np.empty((episode_len, env.state.shape[0]), np.float32)
        frames[0], states[0] = obs, env.state
        for t in range(episode_len - 1):
            actions[t] = policy.act(info)
            obs, _, _, _, info = env.step(actions[t])
            frames[t + 1], states[t + 1] = obs, env.state
        out.append(
            {
                "obs": frames,
                "actions": actions,
                "states": states,
                "seed": seed,
                "layout": env.layout,
            }
        )
    return out

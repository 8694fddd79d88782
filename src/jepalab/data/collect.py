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

Any other Gymnasium environment (a registered id or ``package.module:ClassName``, see
:func:`~jepalab.envs.make_env`) is recorded from pixels: frames are ``env.render()``
pictures resized by :func:`render_observation`, the env's own observation is stored as
the ``states`` when it is a flat numeric vector, and episodes end at ``episode_len``
frames or when the env terminates or truncates. Policies (``policy``):

- ``"scripted"``: the exploration policy above (built-in worlds only; a world with an
  ``explorer`` class, such as the Reacher's ``ReacherExplorer``, brings its own);
- ``"random"``: the action space's own ``sample()``, seeded per episode;
- ``"package.module:callable"``: called as ``policy(obs, info, rng) -> action`` at every
  step, with the env's own observation and ``info`` and the episode's
  ``numpy.random.Generator``; it must be importable by name in the worker processes.

``"auto"`` is ``"scripted"`` for the built-in worlds and ``"random"`` otherwise.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from jepalab.data.dataset import EpisodeDataset, EpisodeWriter
from jepalab.data.video import resize_frames
from jepalab.envs import ENVS, load_object, make_env, maze
from jepalab.envs.two_rooms import room_of
from jepalab.errors import ConfigError, DataError, JepalabError

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
    policy: str = "auto",
    obs_size: int = 64,
) -> Path:
    """Collect ``episodes`` episodes of up to ``episode_len`` frames into ``path``.

    Episode ``i`` uses seed ``seed + i``; the result is the same for any ``workers``.
    Episodes are generated in ``workers`` processes (1: in this process), in chunks, and
    streamed to an :class:`EpisodeWriter` in order, so memory stays bounded. Records
    states, layouts and the seed range ``[seed, seed + episodes)``.

    Args:
        env_name: a built-in world, a Gymnasium id or ``package.module:ClassName``.
        policy: ``auto``, ``scripted``, ``random`` or ``package.module:callable`` (see the
            module docstring).
        obs_size: frames of non-built-in environments are ``(obs_size, obs_size, 3)``;
            the built-in worlds keep their own ``(65, 65, 3)`` observations.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    for name, value, low in (
        ("episodes", episodes, 1),
        ("episode_len", episode_len, 2),
        ("obs_size", obs_size, 1),
    ):
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    builtin = env_name in ENVS
    env_kwargs = dict(env_kwargs or {})
    if builtin:
        # A built-in world's step limit is its tasks' budget, not an exploration limit:
        # its episodes run for episode_len frames whatever that is.
        env_kwargs = {"max_episode_steps": episode_len, **env_kwargs}
    policy = _policy_name(policy, env_name)
    env = make_env(env_name, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    if builtin:
        obs_shape, state_dim, layout_fields = obs.shape, env.state.shape[0], env.layout_fields
    else:
        mode = getattr(env, "render_mode", None)
        if mode != "rgb_array":
            raise JepalabError(
                f"environment {env_name!r} has render_mode {mode!r}; jepalab records "
                "env.render() frames, so it must render 'rgb_array' (a class listing 'rgb_array' "
                "in metadata['render_modes'] is given render_mode='rgb_array')"
            )
        obs_shape = render_observation(env, obs_size).shape
        state_dim, layout_fields = _flat_dim(obs), ()
    action_dim = _action_dim(env.action_space, env_name)
    fork = _fork_safe(env)
    env.close()
    recipe = _Recipe(env_name, env_kwargs, episode_len, policy, obs_size, state_dim)
    per_job = max(1, min(_CHUNK_FRAMES // episode_len, -(-episodes // workers)))
    jobs = [
        (recipe, range(start, min(start + per_job, seed + episodes)))
        for start in range(seed, seed + episodes, per_job)
    ]
    writer = EpisodeWriter(
        path,
        env=env_name,
        obs_shape=obs_shape,
        action_dim=action_dim,
        state_dim=state_dim,
        layout_fields=layout_fields,
        seed_start=seed,
        seed_stop=seed + episodes,
    )
    with (
        _worker_pool(workers, fork) as pool,
        writer,
        tqdm(total=episodes, desc="collect", unit="ep", disable=not progress) as bar,
    ):
        for chunk in _in_order(pool, jobs, in_flight=2 * workers):
            for episode in chunk:
                writer.add_episode(**episode)
                bar.update()
    if progress:
        with EpisodeDataset(writer.path) as ds:
            lo, hi = ds.episode_lengths.min(), ds.episode_lengths.max()
            crossing = (
                f"; {door_crossing_rate(ds):.0%} cross the door"
                if "wall_x" in ds.layout_fields
                else ""
            )
        frames = f"{lo}" if lo == hi else f"{lo}-{hi}"
        print(f"wrote {writer.path}: {episodes} episodes of {frames} frames{crossing}")
    return writer.path


def render_observation(env: gym.Env, size: int) -> np.ndarray:
    """``env.render()`` as a ``(size, size, 3)`` uint8 observation (area-averaged resize).

    This is how collection sees a non-built-in environment; a :class:`GoalTask` wrapper for
    ``jepalab evaluate`` must make its observations with it too, so the model is shown the
    same pictures it was trained on.
    """
    name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    try:
        frame = env.render()
    except gym.error.DependencyNotInstalled as err:
        raise JepalabError(f"environment {name!r} cannot render: {err}") from None
    if frame is None:
        raise JepalabError(
            f"environment {name!r} rendered nothing (render_mode "
            f"{getattr(env, 'render_mode', None)!r}); make it with render_mode='rgb_array'"
        )
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise JepalabError(
            f"environment {name!r} rendered a {frame.dtype} array of shape {frame.shape}; "
            "expected an RGB (H, W, 3) uint8 frame"
        )
    # A copy: the env may render into a buffer it reuses.
    return np.array(resize_frames(frame[None], (size, size, 3))[0].numpy())


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


def _fork_safe(env: gym.Env) -> bool:
    """Whether workers may be forked from this process once it has made ``env``. A MuJoCo
    renderer's EGL or GLFW context does not survive a fork (the workers hang), so MuJoCo
    worlds get spawned workers; everything else is forked, which also hands the workers
    whatever the caller registered with Gymnasium in this process."""
    unwrapped = env.unwrapped
    if not getattr(unwrapped, "fork_safe", True):
        return False
    try:
        from gymnasium.envs.mujoco import MujocoEnv
    except (ImportError, gym.error.DependencyNotInstalled):
        return True
    return not isinstance(unwrapped, MujocoEnv)


@contextlib.contextmanager
def _worker_pool(workers: int, fork: bool) -> Iterator[Pool | None]:
    """A process pool of ``workers``, or ``None`` to work in this process; forked when
    ``fork`` and the platform can."""
    if workers == 1:
        yield None
        return
    # fork starts in milliseconds where spawn re-imports torch in every worker (seconds).
    # collect() makes the pool before it opens the output file or starts the progress
    # bar's thread, so nothing half-held is forked.
    method = "fork" if fork and "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
        yield pool


def _in_order(
    pool: Pool | None, jobs: Sequence[tuple[_Recipe, range]], in_flight: int
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
    # Workers use torch only to resize frames; its thread pool would fight the other
    # workers for cores.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


@dataclass
class _Recipe:
    """What every worker needs to roll out its episodes (sent to it pickled)."""

    env_name: str
    env_kwargs: dict[str, Any]
    episode_len: int
    policy: str  # scripted | random | package.module:callable
    obs_size: int
    state_dim: int  # of a non-built-in env's own observation; 0 stores none


def _policy_name(policy: str, env_name: str) -> str:
    """``policy`` with ``auto`` resolved; a user policy is imported here, so a bad one
    fails before any worker starts."""
    builtin = env_name in ENVS
    if policy == "auto":
        return "scripted" if builtin else "random"
    if policy == "scripted" and not builtin:
        raise ConfigError(
            f"the scripted exploration policy drives the built-in worlds ({', '.join(ENVS)}) "
            f"only; collect {env_name!r} with policy 'random' or 'package.module:callable'"
        )
    if policy in ("scripted", "random"):
        return policy
    if ":" not in policy:
        raise ConfigError(
            f"policy must be auto, scripted, random or package.module:callable, got {policy!r}"
        )
    load_object(policy, "policy")
    return policy


def _flat_dim(obs: Any) -> int:
    """``S`` when the env's observation is a flat numeric vector ``(S,)``, else 0."""
    x = np.asarray(obs)
    return x.shape[0] if x.ndim == 1 and x.dtype.kind in "biuf" else 0


def _action_dim(space: gym.Space, env_name: str) -> int:
    """``A`` of the stored actions: a ``Box`` ``(A,)`` as is, a ``Discrete`` as ``(1,)``."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return space.shape[0]
    if isinstance(space, gym.spaces.Discrete):
        return 1
    raise JepalabError(
        f"environment {env_name!r} has action space {space}; jepalab records one-dimensional "
        "Box or Discrete actions"
    )


def _action_row(space: gym.Space, action: Any) -> np.ndarray:
    """``action`` as the stored ``(A,)`` float32 row."""
    if isinstance(space, gym.spaces.Discrete):
        return np.array([int(action)], np.float32)
    row = np.asarray(action, dtype=np.float32)
    if row.shape != space.shape:
        raise JepalabError(f"the policy returned an action of shape {row.shape} for {space}")
    return row


def _episode_policy(
    recipe: _Recipe, env: gym.Env, seed: int, info: dict[str, Any], user: Callable | None
) -> Callable[[Any, dict[str, Any]], Any]:
    """The episode's ``(obs, info) -> action``, seeded from ``(seed, _POLICY_STREAM)``."""
    rng = np.random.default_rng([seed, _POLICY_STREAM])
    if recipe.policy == "scripted" and hasattr(env, "explorer"):  # a world's own explorer
        explorer = env.explorer(rng)
        return lambda obs, info: explorer.act(info)
    if recipe.policy == "scripted":
        scripted = ExplorationPolicy(rng, float(np.min(env.action_space.high)))
        scripted.reset(info)
        return lambda obs, info: scripted.act(info)
    if recipe.policy == "random":
        env.action_space.seed(int(rng.integers(2**63)))
        return lambda obs, info: env.action_space.sample()
    return lambda obs, info: user(obs, info, rng)


def _episodes(recipe: _Recipe, seeds: range) -> list[dict[str, Any]]:
    """Roll out one episode per seed: ``add_episode`` keyword arguments for each."""
    env = make_env(recipe.env_name, **recipe.env_kwargs)
    user = None if recipe.policy in ("scripted", "random") else load_object(recipe.policy, "policy")
    try:
        return [_episode(recipe, env, seed, user) for seed in seeds]
    finally:
        env.close()


def _episode(recipe: _Recipe, env: gym.Env, seed: int, user: Callable | None) -> dict[str, Any]:
    builtin = recipe.env_name in ENVS

    def observe(obs: Any) -> tuple[np.ndarray, np.ndarray]:
        """The frame ``(H, W, C)`` and state ``(S,)`` to record for ``obs``."""
        if builtin:
            return obs, env.state
        state = np.asarray(obs, np.float32) if recipe.state_dim else np.zeros(0, np.float32)
        return render_observation(env, recipe.obs_size), state

    obs, info = env.reset(seed=seed)
    policy = _episode_policy(recipe, env, seed, info, user)
    frame, state = observe(obs)
    n = recipe.episode_len
    frames = np.empty((n, *frame.shape), np.uint8)
    states = np.empty((n, *state.shape), np.float32)
    actions = np.empty((n - 1, _action_dim(env.action_space, recipe.env_name)), np.float32)
    frames[0], states[0] = frame, state
    length = n
    for t in range(n - 1):
        action = policy(obs, info)
        actions[t] = _action_row(env.action_space, action)
        obs, _, terminated, truncated, info = env.step(action)
        frames[t + 1], states[t + 1] = observe(obs)
        if terminated or truncated:
            length = t + 2
            break
    return {
        "obs": frames[:length],
        "actions": actions[: length - 1],
        "states": states[:length] if states.shape[1] else None,
        "seed": seed,
        "layout": env.layout if builtin else (),
    }

"""Collecting from any Gymnasium environment: ids, module:Class, policies, pixels, errors,
and a GoalTask wrapper that `evaluate` can plan in."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import jepalab
from jepalab.cli import run
from jepalab.data import EpisodeDataset, WindowDataset, collect
from jepalab.data.collect import render_observation
from jepalab.envs import make_env
from jepalab.errors import ConfigError, DataError, JepalabError
from jepalab.training.trainer import build_model

from .conftest import tiny_config

TINY = f"{__name__}:TinyEnv"
TINY_ID = "jepalab-test/Tiny-v0"
FAST = {"episodes": 6, "episode_len": 12, "seed": 3, "progress": False, "obs_size": 16}


class TinyEnv(gym.Env):
    """A dot on a line in [-1, 1], pushed by the action; the episode ends off either end.

    Observations are ``(x, last move)``; renders a 24x32 picture (no pygame needed). Moves
    are at most 0.2 and starts within 0.5 of the centre, so episodes have >= 4 frames.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, discrete: bool = False) -> None:
        self.render_mode = render_mode
        self.discrete = discrete
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.action_space = (
            gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-0.2, 0.2, (1,), np.float32)
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x, self.move = float(self.np_random.uniform(-0.5, 0.5)), 0.0
        return self._obs(), {}

    def step(self, action):
        self.move = 0.2 * (int(action) - 1) if self.discrete else float(action[0])
        self.x += self.move + float(self.np_random.normal(0.0, 0.01))
        return self._obs(), -abs(self.x), abs(self.x) > 1.0, False, {"x": self.x}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        image = np.zeros((24, 32, 3), np.uint8)
        image[:, int(np.clip((self.x + 1) / 2 * 31, 0, 31)), 0] = 255
        return image

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.move], np.float32)


class NoPixelsEnv(TinyEnv):
    """Renders no rgb_array: make_env leaves its render_mode None."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}


class BlankEnv(TinyEnv):
    """Claims rgb_array but renders nothing."""

    def render(self) -> None:
        return None


def push_right(obs: np.ndarray, info: dict, rng: np.random.Generator) -> np.ndarray:
    """A user policy: push right at a random speed, so episodes end early off the right."""
    return np.array([rng.uniform(0.18, 0.2)], np.float32)


class ReachTask(gym.Wrapper):
    """The README's GoalTask wrapper, around the tiny env: reach the state another seeded
    reset starts in, seen as a picture made exactly as collection made it."""

    max_episode_steps = 5

    def __init__(self, env_id: str = TINY_ID, size: int = 16, tolerance: float = 0.1) -> None:
        super().__init__(gym.make(env_id, render_mode="rgb_array"))
        self.size, self.tolerance = size, tolerance
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        self.goal = np.array(self.env.reset(seed=seed)[0])
        goal_obs = render_observation(self.env, self.size)
        self.state, _ = self.env.reset()
        return render_observation(self.env, self.size), goal_obs

    def step(self, action):
        self.state, reward, terminated, truncated, info = self.env.step(action)
        obs = render_observation(self.env, self.size)
        return obs, reward, terminated or self.is_success(), truncated, info

    def goal_distance(self) -> float:
        return float(np.linalg.norm(self.state - self.goal))

    def is_success(self) -> bool:
        return self.goal_distance() < self.tolerance


if TINY_ID not in gym.registry:
    gym.register(TINY_ID, entry_point=TinyEnv, max_episode_steps=6)


def episodes(path) -> list[dict]:
    with EpisodeDataset(path) as ds:
        return [ds.episode(i) for i in range(ds.num_episodes)]


@pytest.fixture(scope="module")
def by_class(tmp_path_factory):
    """The tiny env collected by module:Class with 1 and with 2 workers."""
    root = tmp_path_factory.mktemp("gym")
    return [collect(TINY, root / f"{w}.h5", workers=w, **FAST) for w in (1, 2)]


def test_module_class_collects_the_same_with_any_workers(by_class):
    with EpisodeDataset(by_class[0]) as ds:
        assert ds.env == TINY and ds.obs_shape == (16, 16, 3)
        assert (ds.action_dim, ds.state_dim, ds.seed_range) == (1, 2, (3, 9))
    one, two = episodes(by_class[0]), episodes(by_class[1])
    for a, b in zip(one, two, strict=True):
        for key in ("obs", "actions", "states", "seed"):
            np.testing.assert_array_equal(a[key], b[key])


def test_frames_are_resized_renders_and_states_the_env_observations(by_class):
    episode = episodes(by_class[0])[2]
    env = TinyEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=episode["seed"])
    for t, action in enumerate(episode["actions"]):
        np.testing.assert_array_equal(episode["states"][t], obs)
        np.testing.assert_array_equal(episode["obs"][t], render_observation(env, 16))
        obs, *_ = env.step(action)
    assert np.abs(episode["actions"]).max() <= 0.2


def test_a_registered_id_with_discrete_actions_ends_at_truncation(tmp_path):
    path = collect(TINY_ID, tmp_path / "d.h5", workers=2, env_kwargs={"discrete": True}, **FAST)
    data = episodes(path)
    # TimeLimit truncates after 6 steps (7 frames); termination may come first.
    assert max(len(e["obs"]) for e in data) == 7 and min(len(e["obs"]) for e in data) >= 4
    actions = np.concatenate([e["actions"] for e in data])
    assert actions.shape[1] == 1 and set(np.unique(actions)) <= {0.0, 1.0, 2.0}
    with pytest.raises(DataError, match=r"no episode .* has 8 frames"):
        WindowDataset(path, 8)


def test_user_policy_is_called_with_a_seeded_rng(tmp_path, by_class):
    policy = f"{__name__}:push_right"
    paths = [collect(TINY, tmp_path / f"{w}.h5", workers=w, policy=policy, **FAST) for w in (1, 2)]
    user, again, rand = episodes(paths[0]), episodes(paths[1]), episodes(by_class[0])
    for a, b in zip(user, again, strict=True):
        np.testing.assert_array_equal(a["actions"], b["actions"])
    for e in user:  # pushed right until it falls off the end: short episodes
        assert ((e["actions"] >= 0.18) & (e["actions"] <= 0.2)).all()
        assert 4 <= len(e["obs"]) < FAST["episode_len"] and e["states"][-1, 0] > 1.0
    assert (np.concatenate([e["actions"] for e in rand]) < 0).any()  # random: both ways


@pytest.mark.parametrize(
    "env, message",
    [
        (f"{__name__}:NoPixelsEnv", "has render_mode None"),
        (f"{__name__}:BlankEnv", "'BlankEnv' rendered nothing"),
    ],
)
def test_an_env_without_pixels_is_a_clear_error(tmp_path, env, message):
    with pytest.raises(JepalabError, match=message):
        collect(env, tmp_path / "x.h5", workers=1, **FAST)
    assert not list(tmp_path.iterdir())


def test_unknown_names_and_policies_are_clear_errors(tmp_path):
    with pytest.raises(
        JepalabError,
        match=r"built-in: hazard-rooms, maze, point-maze, reacher, two-rooms.*module:ClassName",
    ):
        make_env("no-such-env")
    with pytest.raises(JepalabError, match="no 'Nope'"):
        make_env(f"{__name__}:Nope")
    with pytest.raises(ConfigError, match="built-in worlds"):
        collect(TINY, tmp_path / "x.h5", policy="scripted", **FAST)
    with pytest.raises(ConfigError, match=r"package\.module:callable"):
        collect(TINY, tmp_path / "x.h5", policy="greedy", **FAST)
    with pytest.raises(JepalabError, match="cannot import module 'nowhere'"):
        collect(TINY, tmp_path / "x.h5", policy="nowhere:act", **FAST)


def test_cli_env_alias_and_config_keys(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data.episodes", "2", "--data.episode_len", "5", "--data.workers", "1"]
    assert run(["collect", "--out", str(out), "--env", TINY, "--data.obs_size", "8", *args]) == 0
    with EpisodeDataset(out / "data.h5") as ds:
        assert ds.env == TINY and ds.obs_shape == (8, 8, 3)
    assert f"name: {TINY}" in (out / "config.yaml").read_text()


def test_a_goal_task_wrapper_is_evaluated(tmp_path):
    """Collect from the id, evaluate in the wrapper: shapes, bounds and the GoalTask agree."""
    cfg = tiny_config(tmp_path, "--env.name", TINY_ID, "--data.obs_size", "16")
    jepalab.collect(cfg, progress=False)
    with EpisodeDataset(cfg.data_path) as ds:
        model = build_model(cfg, ds.obs_shape, ds.action_dim)
    cfg.env.name = f"{__name__}:ReachTask"
    result = jepalab.evaluate(model, cfg, progress=False)
    assert result.episodes == 2 and 0 <= result.mean_final_distance < 4

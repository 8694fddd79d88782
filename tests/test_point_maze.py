"""Gymnasium-Robotics' PointMaze from pixels: PointMaze's own tasks and success test, the
ball stopped by walls, stacked frames, the scripted explorer, collection."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")  # the mujoco extra; in the dev extra, so CI runs these

from jepalab.data import EpisodeDataset, collect
from jepalab.envs import make_env
from jepalab.envs.point_maze import SUCCESS_RADIUS, PointMazeExplorer, PointMazeTask
from jepalab.errors import JepalabError


@pytest.fixture(scope="module")
def env() -> PointMazeTask:
    e = make_env("point-maze", size=32)
    yield e
    e.close()


def test_task_is_pointmazes_own_and_reproducible(env: PointMazeTask) -> None:
    start, goal = env.reset_task(seed=1_000_000)
    assert start.shape == goal.shape == (32, 32, 6) and start.dtype == np.uint8
    assert np.array_equal(goal[..., :3], goal[..., 3:])  # the ball at rest at the goal
    assert not np.array_equal(start[..., 3:], goal[..., 3:])  # ...which is elsewhere
    np.testing.assert_allclose(env.goal, env._maze_env.goal)
    assert env.goal_distance() > SUCCESS_RADIUS and not env.is_success()
    again = env.reset_task(seed=1_000_000)
    assert np.array_equal(again[0], start) and np.array_equal(again[1], goal)
    assert env.max_episode_steps == 100  # PointMaze's 300 simulator steps of the U-maze


def test_success_is_within_pointmazes_radius(env: PointMazeTask) -> None:
    env.reset_task(seed=5)
    env.start_at(env.goal + np.array([SUCCESS_RADIUS - 0.05, 0.0]))
    _, reward, terminated, _, _ = env.step(np.zeros(2))
    assert terminated and env.is_success() and reward == -env.goal_distance()
    env.start_at(env.goal + np.array([0.0, SUCCESS_RADIUS + 0.3]))
    _, _, terminated, _, _ = env.step(np.zeros(2))
    assert not terminated and not env.is_success()


def test_the_ball_keeps_its_speed_and_walls_stop_it(env: PointMazeTask) -> None:
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs[..., :3], obs[..., 3:]) and obs[..., 3:].std() > 0
    obs, _, _, _, info = env.step(np.array([1.0, 1.0]))
    assert not np.array_equal(obs[..., :3], obs[..., 3:])  # moving: the frames differ
    for _ in range(5):
        _, _, _, _, info = env.step(np.zeros(2))
    assert np.linalg.norm(info["vel"]) > 0.3  # no force, still rolling
    for _ in range(60):  # push into the corner: the outer walls hold it
        _, _, _, _, info = env.step(np.array([1.0, 1.0]))
    assert np.all(np.abs(info["pos"]) < 1.5)
    assert env.state.shape == (4,)


def test_bad_input_is_refused() -> None:
    with pytest.raises(JepalabError, match="unknown maze"):
        PointMazeTask(maze="hedge")
    e = PointMazeTask(size=16)
    with pytest.raises(JepalabError, match="reset"):
        e.step(np.zeros(2))
    e.reset(seed=0)
    with pytest.raises(JepalabError, match="shape"):
        e.step(np.zeros(3))
    with pytest.raises(JepalabError, match="finite"):
        e.step(np.array([0.0, np.inf]))
    with pytest.raises(JepalabError, match="no task"):
        e.goal_distance()
    e.close()


def test_gymnasium_checker_accepts_the_world() -> None:
    import warnings

    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(PointMazeTask(size=16), skip_render_check=True)


def test_explorer_runs_and_brakes(env: PointMazeTask) -> None:
    _, info = env.reset(seed=2)
    explorer = PointMazeExplorer(np.random.default_rng(0))
    explorer.noise_only = False
    speeds, places = [], []
    for _ in range(80):
        a = explorer.act(info)
        assert a.shape == (2,) and np.all(np.abs(a) <= 1)
        _, _, _, _, info = env.step(a)
        speeds.append(np.linalg.norm(info["vel"]))
        places.append(info["pos"])
    assert max(speeds) > 1.0 and min(speeds[20:]) < 0.5 * max(speeds)
    assert np.ptp(np.array(places), axis=0).max() > 0.5  # it goes places


def test_collect_records_the_maze_with_spawned_workers(tmp_path) -> None:
    path = collect(
        "point-maze",
        tmp_path / "maze.h5",
        env_kwargs={"size": 16},
        episodes=2,
        episode_len=5,
        workers=2,
        progress=False,
    )
    with EpisodeDataset(path) as ds:
        assert ds.obs_shape == (16, 16, 6) and ds.action_dim == 2 and ds.num_episodes == 2
        assert ds.states.shape[-1] == 4

"""The multi-room maze: tree-shaped doors, tasks several doors apart, solid walls."""

import gymnasium as gym
import numpy as np
import pytest

from jepalab.envs import make_env
from jepalab.envs.maze import (
    GRID,
    SPANS,
    TASK_DOORS,
    WALLS,
    MazeEnv,
    random_layout,
    room_of,
    room_route,
    walls_between,
)
from jepalab.errors import JepalabError

ROOMS = [(r, c) for r in range(GRID) for c in range(GRID)]


@pytest.mark.parametrize("seed", range(20))
def test_doors_form_a_spanning_tree(seed):
    doors = random_layout(np.random.default_rng(seed))
    assert sum(d >= 0 for d in doors) == GRID * GRID - 1
    assert all(room_route(doors, (0, 0), room) is not None for room in ROOMS)


def test_tasks_are_two_to_four_doors_apart_and_reproducible():
    env = make_env("maze")
    for seed in range(30):
        start, goal = env.reset_task(seed)
        doors = len(env.route()) - 1
        assert TASK_DOORS[0] <= doors <= TASK_DOORS[1]
        again = MazeEnv().reset_task(seed)
        assert np.array_equal(start, again[0]) and np.array_equal(goal, again[1])
    assert start.shape == (65, 65, 3) and start.dtype == np.uint8


def _push(env, pos, direction, steps=30):
    env.reset(seed=0, options={"layout": env.layout, "pos": pos})
    for _ in range(steps):
        env.step(np.array(direction, float) * 2.45)
    return env.state


def test_closed_walls_stop_the_agent_and_open_doors_let_it_through():
    env = MazeEnv(action_noise=0.0)
    env.reset(seed=1)
    walls = walls_between()
    # The vertical wall between rooms (0, 0) and (0, 1): open or closed in this layout.
    for i, ((a, b), door) in enumerate(zip(walls, env.layout, strict=True)):
        if a[0] != b[0]:
            continue  # horizontal walls: the same logic, transposed
        y = door if door >= 0 else sum(SPANS[a[0]]) / 2
        x = (SPANS[a[1]][0] + SPANS[a[1]][1]) / 2
        end = _push(env, (x, y), (1, 0))
        crossed = room_of(end)[1] > a[1]
        assert crossed == (door >= 0), (i, door, end)
        assert end[0] < WALLS[a[1]] - 1 or door >= 0


def test_a_sealed_room_makes_the_goal_unreachable():
    env = MazeEnv()
    env.reset(seed=0)
    doors = list(env.layout)
    # Close every wall of room (1, 1): nothing gets in or out.
    for i, (a, b) in enumerate(walls_between()):
        if (1, 1) in (a, b):
            doors[i] = -1
    env.reset(seed=0, options={"layout": doors, "pos": (10.0, 10.0)})
    env.set_goal((32.0, 32.0))
    assert env.route() is None


def test_bad_input_is_named():
    env = MazeEnv()
    with pytest.raises(JepalabError, match="12 door positions"):
        env.reset(options={"layout": [1, 2, 3]})
    with pytest.raises(JepalabError, match="outside"):
        env.reset(options={"layout": [0] * 12})
    env.reset(seed=0)
    with pytest.raises(JepalabError, match="free space"):
        env.set_goal((0.0, 0.0))
    with pytest.raises(JepalabError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    assert isinstance(gym.make("jepalab/Maze-v0").unwrapped, MazeEnv)


def test_exploration_data_crosses_doors_in_the_maze(tmp_path):
    from jepalab.data import EpisodeDataset, collect

    path = collect("maze", tmp_path / "maze.h5", episodes=12, episode_len=120, workers=1,
                   progress=False)  # fmt: skip
    with EpisodeDataset(path) as ds:
        states, starts = ds.states, ds.episode_starts
        rooms_seen = [
            {room_of(p) for p in states[starts[e] : starts[e + 1]]} for e in range(len(starts) - 1)
        ]
        assert ds.layout_fields[0].startswith("door_")
    assert sum(len(r) >= 3 for r in rooms_seen) >= 2  # some episodes cross two doors

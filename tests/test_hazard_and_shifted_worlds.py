"""Hazard Rooms (hot cells end the episode) and the shifted Two-Rooms the agent never saw."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from jepalab.envs import HazardRoomsEnv, ShiftedTwoRoomsEnv, TwoRoomsEnv, make_env
from jepalab.envs.hazard_rooms import HAZARD_SIZE, hazard_distance
from jepalab.envs.shifted_rooms import second_door
from jepalab.errors import JepalabError

WALL_X, DOOR_Y = 30, 20
CELLS = (8, 40, 45, 10, 45, 45)  # top-left corners of the three hot cells
LAYOUT = (WALL_X, DOOR_Y, *CELLS)


def walk(env, target, steps=60):
    """Head for ``target`` at full speed; returns the last step's results."""
    for _ in range(steps):
        out = env.step(np.clip(np.asarray(target) - env.state, -2.4, 2.4) * 0.7)
        if out[2] or out[3]:
            return out
    return out


def test_entering_a_hot_cell_ends_the_episode_as_a_failure():
    env = HazardRoomsEnv(action_noise=0.0)
    env.reset(options={"layout": LAYOUT, "pos": (12.0, 30.0)})
    _, _, terminated, _, info = walk(env, (12.0, 44.0))
    assert terminated and info["hazard"] and env.in_hazard
    assert hazard_distance(env.state, LAYOUT)[0] <= 1.0


def test_a_task_that_enters_a_hot_cell_is_failed():
    burned = 0
    for seed in range(40):  # straight at the goal: some of these paths cross a cell
        env = HazardRoomsEnv(action_noise=0.0)
        env.reset_task(seed)
        _, _, terminated, _, info = walk(env, env.goal, steps=80)
        if info["hazard"]:
            burned += 1
            assert terminated and not info["is_success"] and not env.is_success()
    assert burned > 0


def test_hot_cells_are_drawn_blue_and_recorded_in_the_layout():
    env = HazardRoomsEnv()
    obs, _ = env.reset_task(3)
    assert len(env.layout) == len(HazardRoomsEnv.layout_fields) == 8
    blue = (obs[..., 2] == 255) & (obs[..., 1] == 0)
    assert blue.sum() >= 3 * HAZARD_SIZE**2 - 30  # the agent's dot may cover a few pixels
    # starts and goals keep clear of every cell
    assert hazard_distance(env.state, env.layout)[0] >= 3.0
    assert hazard_distance(env.goal, env.layout)[0] >= 3.0


def test_hazard_distance_is_zero_inside_and_grows_outside():
    inside = (CELLS[0] + 3.0, CELLS[1] + 3.0)
    d = hazard_distance(np.array([inside, (CELLS[0] - 5.0, CELLS[1] + 3.0)]), LAYOUT)
    np.testing.assert_allclose(d, [0.0, 4.5])


def test_hazard_tasks_can_be_solved_and_the_doorway_stays_open():
    for seed in range(30):
        env = HazardRoomsEnv()
        env.reset_task(seed)
        wall_x, door_y = env.layout[:2]
        assert hazard_distance(np.array([wall_x, door_y]), env.layout)[0] > 4.0


def test_bad_hazard_layout_is_refused():
    with pytest.raises(JepalabError, match="hazard layout has 8 numbers"):
        HazardRoomsEnv().reset(options={"layout": (WALL_X, DOOR_Y)})


def test_hazard_rooms_is_a_gymnasium_env():
    env = gym.make("jepalab/HazardRooms-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (65, 65, 3) and info["hazard"] is False


def test_the_second_door_is_a_real_door():
    env = make_env("two-rooms-two-doors", action_noise=0.0)
    assert isinstance(env, ShiftedTwoRoomsEnv)
    env.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (20.0, second_door(DOOR_Y))})
    walk(env, (40.0, second_door(DOOR_Y)))
    assert env.state[0] > WALL_X + 2  # through the second door
    plain = TwoRoomsEnv(action_noise=0.0)
    plain.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (20.0, second_door(DOOR_Y))})
    walk(plain, (40.0, second_door(DOOR_Y)))
    assert plain.state[0] < WALL_X  # the ordinary world has a wall there


def test_shifted_worlds_draw_what_they_change():
    seed = 11
    plain = TwoRoomsEnv().reset_task(seed)
    inverted = make_env("two-rooms-inverted").reset_task(seed)
    for a, b in zip(plain, inverted, strict=True):
        np.testing.assert_array_equal(b, 255 - a)
    thick, _ = make_env("two-rooms-thick-border").reset_task(seed)
    assert (thick[:6, :, 1] == 200).all() and not (plain[0][2:6, 10:20, 1] == 200).any()
    with pytest.raises(JepalabError, match="unknown shift"):
        ShiftedTwoRoomsEnv("upside-down")

"""The two-rooms world: walls, the door, actions, rendering and the goal task."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from jepalab.envs import TwoRoomsEnv, geometry, make_env
from jepalab.envs.two_rooms import AGENT_RADIUS, MAX_STEP, room_of, wall_rects
from jepalab.errors import JepalabError

WALL_X, DOOR_Y = 30, 20
# The agent's centre stops this far left of the wall's centre line (wall half-width 1.5).
WALL_STOP = WALL_X - 1.5 - AGENT_RADIUS - geometry.CONTACT_GAP


def quiet_env(**kwargs) -> TwoRoomsEnv:
    return TwoRoomsEnv(action_noise=0.0, **kwargs)


def test_rasterize_covers_exactly_the_pixels_of_a_rect():
    mask = geometry.rasterize([geometry.pixel_rect(2, 3, 4, 5)], (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[3:6, 2:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_image_draws_border_wall_and_door():
    env = quiet_env()
    obs, _ = env.reset(seed=0, options={"layout": (WALL_X, DOOR_Y), "pos": (10.0, 50.0)})
    gray = obs[..., 1] == 200
    assert gray[[0, 1, 63, 64], :].all() and gray[:, [0, 1, 63, 64]].all()
    assert not gray[2:63, 2].any()
    assert gray[DOOR_Y + 5 :, WALL_X - 1 : WALL_X + 2].all()
    assert gray[: DOOR_Y - 4, WALL_X - 1 : WALL_X + 2].all()
    assert not gray[DOOR_Y - 4 : DOOR_Y + 5, WALL_X - 1 : WALL_X + 2].any()
    assert not gray[2:63, WALL_X + 2].any()


def test_push_straight_at_the_wall_stops_at_it():
    env = quiet_env()
    env.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (10.0, 50.0)})
    for _ in range(20):
        env.step(np.array([MAX_STEP, 0.0]))
    assert env.state[0] == pytest.approx(WALL_STOP, abs=1e-4)
    assert env.state[1] == pytest.approx(50.0)


def test_diagonal_push_slides_along_the_wall():
    env = quiet_env()
    env.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (WALL_STOP, 40.0)})
    env.step(np.array([2.0, 1.0]))
    assert env.state == pytest.approx([WALL_STOP, 41.0], abs=1e-4)


def test_door_can_be_crossed():
    env = quiet_env()
    env.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (10.0, float(DOOR_Y))})
    assert env.room() == 0
    for _ in range(15):
        env.step(np.array([MAX_STEP, 0.0]))
    assert env.room() == 1 and env.state[0] > WALL_X + 1.5


def test_random_pushes_cross_the_wall_only_through_the_door():
    env = TwoRoomsEnv(action_noise=0.3)
    rng = np.random.default_rng(0)
    crossings = 0
    for episode in range(6):
        env.reset(seed=episode)
        rects = wall_rects(*env.layout)
        wall_x, door_y = env.layout
        for _ in range(800):
            before = env.state
            # Mostly steps towards the wall so the door gets found, some at full length.
            action = rng.normal([0.8 if before[0] < wall_x else -0.8, 0.0], 1.5)
            env.step(action)
            after = env.state
            assert geometry.is_free(after, rects, AGENT_RADIUS)
            assert 2.5 < after[0] < 61.5 and 2.5 < after[1] < 61.5
            if room_of(before, wall_x) != room_of(after, wall_x):
                crossings += 1
                # x moves first, at the old y: that y must lie within the door.
                assert abs(before[1] - door_y) < 4.5 - AGENT_RADIUS
    assert crossings > 10


def test_move_never_tunnels_even_for_long_deltas():
    rng = np.random.default_rng(1)
    rects = wall_rects(WALL_X, DOOR_Y)
    walls = [(x0 - 1, y0 - 1, x1 + 1, y1 + 1) for x0, y0, x1, y1 in rects]
    for _ in range(2000):
        pos = rng.uniform(2.5, 61.5, 2)
        if not geometry.is_free(pos, rects, 1.0):
            continue
        new = geometry.move(pos, rng.normal(0, 60, 2), rects, 1.0)
        assert geometry.is_free(new, rects, 1.0)
        # Neither axis-aligned leg of the path overlaps a wall's interior.
        for x0, y0, x1, y1 in walls:
            if y0 < pos[1] < y1:
                assert max(pos[0], new[0]) <= x0 or min(pos[0], new[0]) >= x1
            if x0 < new[0] < x1:
                assert max(pos[1], new[1]) <= y0 or min(pos[1], new[1]) >= y1


def test_actions_are_clipped_to_norm_2_45():
    env = quiet_env()
    env.reset(options={"layout": (WALL_X, DOOR_Y), "pos": (45.0, 30.0)})
    env.step(np.array([30.0, 40.0]))
    assert env.state == pytest.approx([45.0 + 0.6 * MAX_STEP, 30.0 + 0.8 * MAX_STEP], abs=1e-5)
    env.step(np.array([-1.0, 0.5]))
    assert env.state == pytest.approx([44.0 + 0.6 * MAX_STEP, 30.5 + 0.8 * MAX_STEP], abs=1e-5)


@pytest.mark.parametrize(
    ("action", "message"), [([np.nan, 0.0], "finite"), ([1.0, 0.0, 0.0], "shape")]
)
def test_bad_actions_raise(action, message):
    env = TwoRoomsEnv()
    env.reset(seed=0)
    with pytest.raises(JepalabError, match=message):
        env.step(np.array(action))


@pytest.mark.parametrize("pos", [(WALL_X, 50.0), (1.0, 30.0), (80.0, 30.0)])
def test_reset_rejects_a_start_outside_free_space(pos):
    with pytest.raises(JepalabError, match="not in free space"):
        TwoRoomsEnv().reset(options={"layout": (WALL_X, DOOR_Y), "pos": pos})


@pytest.mark.parametrize("seed", range(8))
def test_reset_task_puts_start_and_goal_in_different_rooms(seed):
    env = TwoRoomsEnv()
    start_obs, goal_obs = env.reset_task(seed)
    wall_x, _ = env.layout
    goal = env.goal
    rects = wall_rects(*env.layout)
    assert room_of(env.state, wall_x) != room_of(goal, wall_x)
    assert geometry.is_free(env.state, rects, AGENT_RADIUS + 1)
    assert geometry.is_free(goal, rects, AGENT_RADIUS + 1)
    for obs, pos in ((goal_obs, goal), (start_obs, env.state)):
        row, col = np.unravel_index(obs[..., 0].argmax(), obs.shape[:2])
        assert np.hypot(col - pos[0], row - pos[1]) <= 1.0
    np.testing.assert_array_equal(TwoRoomsEnv().reset_task(seed)[1], goal_obs)


def _steer(env: TwoRoomsEnv, target) -> np.ndarray:
    delta = np.asarray(target) - env.state
    return delta * min(1.0, 2.0 / max(np.hypot(*delta), 1e-9))


def test_reaching_the_goal_terminates_with_success():
    env = TwoRoomsEnv(action_noise=0.0)
    env.reset_task(3)
    wall_x, door_y = env.layout
    side = 1 if env.room() == 0 else -1
    waypoints = [(wall_x - 6 * side, door_y), (wall_x + 6 * side, door_y), env.goal]
    terminated, steps = False, 0
    while not terminated:
        if np.hypot(*(np.asarray(waypoints[0]) - env.state)) < 0.5 and len(waypoints) > 1:
            waypoints.pop(0)
        _, reward, terminated, truncated, info = env.step(_steer(env, waypoints[0]))
        steps += 1
        assert reward == pytest.approx(-env.goal_distance())
        assert terminated == (env.goal_distance() < 4.5) == info["is_success"]
        assert not truncated and steps < 100
    assert env.is_success()


def test_episodes_truncate_after_max_episode_steps():
    env = TwoRoomsEnv(max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(np.zeros(2))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    assert TwoRoomsEnv().max_episode_steps == 200


def test_info_and_render():
    env = TwoRoomsEnv(render_mode="rgb_array")
    obs, info = env.reset(seed=5)
    assert env.observation_space.contains(obs)
    assert info["pos"].dtype == np.float32 and info["pos"].shape == (2,)
    assert (info["wall_x"], info["door_y"]) == env.layout
    assert "goal" not in info
    np.testing.assert_array_equal(env.render(), obs)


def test_gymnasium_registration_and_api():
    env = gym.make("jepalab/TwoRooms-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (65, 65, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(TwoRoomsEnv(), skip_render_check=True)


def test_make_env_names_the_known_environments():
    assert isinstance(make_env("two-rooms"), TwoRoomsEnv)
    with pytest.raises(JepalabError, match="two-rooms"):
        make_env("three-rooms")

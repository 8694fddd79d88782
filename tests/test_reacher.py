"""The MuJoCo Reacher from pixels: stacked frames, the task, success only at rest, the
scripted explorer, and collection (spawned workers: a renderer does not survive a fork)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mujoco")  # the mujoco extra; in the dev extra, so CI runs these

from jepalab.data import EpisodeDataset, collect
from jepalab.envs import make_env
from jepalab.envs.reacher import MIN_SEPARATION, ReacherExplorer, ReacherTask
from jepalab.errors import JepalabError


@pytest.fixture(scope="module")
def env() -> ReacherTask:
    e = make_env("reacher", size=32)
    yield e
    e.close()


def test_observations_stack_the_last_two_frames(env: ReacherTask) -> None:
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 6) and obs.dtype == np.uint8
    assert np.array_equal(obs[..., :3], obs[..., 3:])  # after a reset: one frame twice
    assert obs[..., 3:].std() > 0  # an arm is drawn on the floor
    before = obs[..., 3:]
    for _ in range(3):
        obs, *_ = env.step(np.array([1.0, -1.0]))
    assert not np.array_equal(obs[..., :3], obs[..., 3:])  # moving: the frames differ
    nxt, *_ = env.step(np.zeros(2))
    assert np.array_equal(nxt[..., :3], obs[..., 3:])  # previous frame = last step's frame
    assert not np.array_equal(nxt[..., 3:], before)
    assert np.array_equal(env.render(), nxt[..., 3:])


def test_task_goal_is_an_arm_at_rest_far_enough_away(env: ReacherTask) -> None:
    start, goal = env.reset_task(seed=7)
    assert start.shape == goal.shape == (32, 32, 6)
    assert np.array_equal(goal[..., :3], goal[..., 3:])
    assert env.goal_distance() >= MIN_SEPARATION
    again = env.reset_task(seed=7)
    assert np.array_equal(again[0], start) and np.array_equal(again[1], goal)


def test_every_environment_draws_an_arm_with_the_same_camera() -> None:
    """Whatever arm and target an environment first renders, the same arm is drawn the
    same: the camera looks at the root, not at where Gymnasium's viewer first found the
    geoms (which moved it up to 3 px between environments)."""
    arm, pictures = np.array([-0.5, 2.5]), []
    for seed in (None, 2_000_000, 2_000_005):
        e = ReacherTask(size=32)
        if seed is not None:
            e.reset_task(seed)  # the first picture: this task's goal arm
        pictures.append(e.picture_at(arm))
        e.close()
    assert all(np.array_equal(p, pictures[0]) for p in pictures[1:])


def test_success_needs_the_fingertip_at_the_goal_and_still(env: ReacherTask) -> None:
    env.reset_task(seed=3)
    env.start_at(env.goal_arm)
    _, _, terminated, _, _ = env.step(np.zeros(2))
    assert env.goal_distance() < 1e-3
    assert terminated and env.is_success()
    # Sweeping through the goal at speed is not reaching it.
    env.start_at(env.goal_arm - np.array([8.0 * env.sim.dt / 2, 0.0]))
    env.sim.data.qvel[:2] = [8.0, 0.0]
    _, _, terminated, _, _ = env.step(np.zeros(2))
    assert env.goal_distance() < env.tolerance
    assert not terminated and not env.is_success()


def test_bad_actions_and_steps_before_reset_are_refused() -> None:
    e = ReacherTask(size=32)
    with pytest.raises(JepalabError, match="reset"):
        e.step(np.zeros(2))
    e.reset(seed=0)
    with pytest.raises(JepalabError, match="shape"):
        e.step(np.zeros(3))
    with pytest.raises(JepalabError, match="finite"):
        e.step(np.array([np.nan, 0.0]))
    with pytest.raises(JepalabError, match="no task"):
        e.goal_distance()
    e.close()


def test_gymnasium_checker_accepts_the_world(env: ReacherTask) -> None:
    import warnings

    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(ReacherTask(size=32), skip_render_check=True)


def test_explorer_brings_the_arm_towards_its_targets() -> None:
    e = ReacherTask(size=32)
    _, info = e.reset(seed=1)
    rng = np.random.default_rng(4)
    explorer = ReacherExplorer(rng)
    explorer.noise_only = False
    speeds = []
    for _ in range(60):
        a = explorer.act(info)
        assert a.shape == (2,) and np.all(np.abs(a) <= 1)
        _, _, _, _, info = e.step(a)
        speeds.append(np.abs(info["qvel"]).max())
    assert max(speeds) > 1.0  # it swings...
    assert min(speeds[10:]) < max(speeds)  # ...and slows down again
    e.close()


def test_collect_records_stacked_frames_with_spawned_workers(tmp_path) -> None:
    path = collect(
        "reacher",
        tmp_path / "reacher.h5",
        env_kwargs={"size": 24},
        episodes=3,
        episode_len=6,
        workers=2,
        progress=False,
    )
    with EpisodeDataset(path) as ds:
        assert ds.obs_shape == (24, 24, 6) and ds.action_dim == 2
        assert ds.num_episodes == 3 and ds.states.shape[-1] == 6
        obs = ds.episode(0)["obs"]
        assert np.array_equal(obs[1][..., :3], obs[0][..., 3:])


def test_random_torques_rarely_reach_and_stop() -> None:
    """The floor a planner must clear (bench reacher reports it): a flailing arm sweeps
    through goals but seldom stops on one."""
    from jepalab.config import RunConfig
    from jepalab.eval.evaluate import random_policy_success

    cfg = RunConfig()
    cfg.env.name, cfg.eval.episodes = "reacher", 12
    first = random_policy_success(cfg)
    assert first <= 2 / 12
    assert random_policy_success(cfg) == first  # seeded per task


def test_stacked_frames_are_encoded_one_at_a_time_with_their_change() -> None:
    import torch

    from jepalab.perception import StackedFrames, make_encoder
    from jepalab.world_model import WorldModel

    model = WorldModel((16, 16, 6), 2, embed_dim=8, channels=(4, 4, 4), frames=2)
    assert isinstance(model.encoder, StackedFrames)
    x = torch.randint(0, 256, (3, 16, 16, 6), dtype=torch.uint8)
    last, before = model.encoder.frame(x[..., 3:]), model.encoder.frame(x[..., :3])
    torch.testing.assert_close(model.encode(x), torch.cat([last, last - before], -1))
    still = torch.cat([x[..., 3:], x[..., 3:]], -1)  # the same picture twice: no speed
    assert model.encode(still)[:, 4:].abs().max() == 0
    with pytest.raises(JepalabError, match="must divide"):
        make_encoder("keypoints", (16, 16, 6), 9, (4, 4), frames=2)


def test_map_encoder_keeps_each_place_in_its_own_numbers() -> None:
    """cnn-map: the embedding is the last feature map, so a change in one corner of the
    picture leaves the numbers of the far corner as they were."""
    import torch

    from jepalab.perception import make_encoder

    enc = make_encoder("cnn-map", (64, 64, 3), 32, (4, 4, 4))  # a 4 x 4 map, 2 channels
    x = torch.randint(0, 256, (1, 64, 64, 3), dtype=torch.uint8)
    y = x.clone()
    y[:, :8, :8] = 255 - y[:, :8, :8]  # the top-left corner
    zx, zy = (enc(v).reshape(2, 4, 4) for v in (x, y))
    assert (zx[:, 0, 0] - zy[:, 0, 0]).abs().max() > 0
    torch.testing.assert_close(zx[:, 3, 3], zy[:, 3, 3], rtol=0, atol=0)
    with pytest.raises(JepalabError, match="multiple of 16"):
        make_encoder("cnn-map", (64, 64, 3), 20, (4, 4, 4))


def test_bench_planner_reaches_goals_on_the_true_dynamics() -> None:
    """benchmarks/reacher_oracle.py: the bench's planner, given the true simulator as world
    model and the fingertip's true distance as cost, reaches and stops on Reacher goals
    (the upper bound its learned model is measured against; 1.0 of 50 tasks)."""
    from jepalab.cli import reacher_bench_config

    oracle = _benchmark_script("reacher_oracle")
    figures = oracle.run(reacher_bench_config(), episodes=4, threads=1)
    assert figures["success_rate"] >= 0.75


def test_onpolicy_diagnosis_reads_a_model_that_copies_as_the_change() -> None:
    """benchmarks/reacher_onpolicy.py: a predictor that says "nothing moves" errs by exactly
    the embedding's change, and the actions' magnitude and saturated share are counted."""
    import torch

    class Copy:
        def rollout(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            return z[:, None].expand(-1, actions.shape[1], -1)

    z = torch.randn(100, 8)
    actions = torch.cat([torch.ones(50, 2), torch.full((50, 2), 0.5)])
    figures = _benchmark_script("reacher_onpolicy").transition_figures(Copy(), z, actions, z + 0.5)
    assert figures["one_step_error"] == pytest.approx(0.25)
    assert figures["change"] == pytest.approx(0.25)
    assert figures["mean_abs_action"] == pytest.approx(0.75)
    assert figures["saturated"] == pytest.approx(0.5)


def test_goal_diagnosis_groups_tasks_by_fold_and_counts_mirror_misses() -> None:
    """benchmarks/reacher_goals.py: goals folded from 1.75 rad on are grouped apart, and a
    miss counts as a mirror miss when the elbow ended bent to the other side."""
    import numpy as np

    goal = np.array([2.5, -2.0, 0.3, -1.0, 2.0])
    final = np.array([-2.9, -2.1, 0.2, 1.0, 1.9])
    success = np.array([False, False, True, False, True])
    groups = _benchmark_script("reacher_goals").by_fold(goal, final, success)
    assert groups["folded"] == {"tasks": 3, "success": pytest.approx(1 / 3), "mirror_misses": 1}
    assert groups["open"] == {"tasks": 2, "success": 0.5, "mirror_misses": 1}


def test_swapped_v_swaps_the_links_of_a_folded_goal() -> None:
    """benchmarks/reacher_goals.py: the swapped V of a folded goal has its elbow on the
    line to the goal's fingertip and its fingertip near the goal's elbow, far from the
    goal's fingertip (in the simulator: the same arm, its links' roles swapped)."""
    goals = _benchmark_script("reacher_goals")
    env = ReacherTask()
    goal_q = np.array([2.23, 2.23])
    _, (goal_tip,) = goals.rest_arms(env, goal_q[None])
    swapped = goals.swapped_v(goal_q, goal_tip)
    _, (tip,) = goals.rest_arms(env, swapped[None])
    goal_elbow = goals.UPPER_ARM * np.array([np.cos(goal_q[0]), np.sin(goal_q[0])])
    assert np.linalg.norm(tip - goal_elbow) < 0.02
    assert np.linalg.norm(tip - goal_tip) > 0.08
    direction = np.arctan2(goal_tip[1], goal_tip[0])
    assert abs(np.angle(np.exp(1j * (swapped[0] - direction)))) < 1e-6


def test_resting_arm_scores_zero_at_the_goal_and_more_than_a_near_miss_far_away() -> None:
    """benchmarks/reacher_goals.py: an arm resting on the goal costs nothing; the open
    arm pointing the other way costs more than the goal's median near miss (by pictures
    blurred 2 px: a cost with no training in it)."""
    goals = _benchmark_script("reacher_goals")
    env = ReacherTask()
    goal = goals.goal_of(env, 2_000_000)
    pictures = goals.BlurredPictures(2.0, env.observation_space.shape)
    rng = np.random.default_rng(0)
    assert goals.rest_over_near_miss(pictures, env, goal, goal[1], rng) == 0.0
    opposite = np.array([goal[1][0] + np.pi, 0.0])
    assert goals.rest_over_near_miss(pictures, env, goal, opposite, rng) > 1.0


def _benchmark_script(name: str):
    """The module ``benchmarks/<name>.py`` (not a package: loaded from its path)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

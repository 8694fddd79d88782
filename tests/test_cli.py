"""The command line end to end, and its answers to bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from jepalab.agent import Agent
from jepalab.errors import JepalabError
from jepalab.world_model import WorldModel

from .conftest import TINY


def jepalab(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "jepalab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = jepalab("demo", "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("success_rate=") and " episodes=2 " in last and " seconds=" in last
    for name in (
        "config.yaml",
        "data.h5",
        "checkpoints/last.safetensors",
        "metrics.json",
        "train_curves.png",
        "eval/metrics.json",
        "eval/episode_000.gif",
    ):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["episodes"] == 2 and 0.0 <= metrics["success_rate"] <= 1.0
    rows = (out / "eval" / "episodes.csv").read_text().splitlines()
    assert rows[0] == "seed,success,final_distance,steps,abstained,hazard" and len(rows) == 3
    assert sum(int(row.split(",")[1]) for row in rows[1:]) == metrics["successes"]

    r = jepalab(
        "evaluate",
        "--checkpoint",
        str(out),
        "--eval.episodes",
        "2",
        "--eval.latency_replans",
        "2",
        "--out",
        str(tmp_path / "ev"),
    )
    assert r.returncode == 0, r.stderr
    assert "success_rate=" in r.stdout

    # A benchmark's evaluation of the trained run, with detours banked from its dataset and
    # routes over its episodic memory.
    bench = tmp_path / "bench.json"
    r = jepalab("bench", "two-rooms", "--checkpoint", str(out), "--run-dir", str(tmp_path / "b"),
                "--out", str(bench), *TINY, "--agent.detour_patience", "2",
                "--agent.route_every", "2", "--eval.latency_replans", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    figures = json.loads(bench.read_text())
    assert figures["episodes"] == 2 and figures["train_seconds"] == metrics["train_seconds"]
    assert figures["checkpoint"] == str(out)
    r = jepalab("bench", "reacher", "--checkpoint", str(out), "--out", str(bench))
    assert r.returncode == 2 and "world model of 'two-rooms'" in r.stderr, r.stderr

    # Runs' world models planning as one ensemble (here the same run twice: the wiring).
    r = jepalab("bench", "two-rooms", "--checkpoint", str(out), "--ensemble-checkpoint", str(out),
                "--run-dir", str(tmp_path / "e"), "--out", str(bench), *TINY,
                "--eval.latency_replans", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    figures = json.loads(bench.read_text())
    assert figures["episodes"] == 2 and figures["train_seconds"] == 2 * metrics["train_seconds"]
    assert [m["checkpoint"] for m in figures["members"]] == [str(out)] * 2
    r = jepalab("bench", "two-rooms", "--ensemble-checkpoint", str(out), "--out", str(bench))
    assert r.returncode == 2 and "beside --checkpoint" in r.stderr, r.stderr

    # The agent with a critic and a Mode-1 policy (untrained: this checks the wiring).
    from jepalab.actor import ActionBounds, Mode1Policy, save_policy
    from jepalab.cost import Critic, save_critic

    save_critic(Critic(8, hidden=8), tmp_path / "critic.safetensors")
    save_policy(Mode1Policy(8, ActionBounds((-1.0,) * 2, (1.0,) * 2), 8), tmp_path / "m1.st")
    save_critic(Critic(5, hidden=8), tmp_path / "critic5.safetensors")
    common = ("evaluate", "--checkpoint", str(out), "--eval.episodes", "2")
    r = jepalab(
        *common,
        "--critic",
        str(tmp_path / "critic.safetensors"),
        "--mode1",
        str(tmp_path / "m1.st"),
        "--eval.latency_replans",
        "2",
    )
    assert r.returncode == 0, r.stderr
    r = jepalab(*common, "--critic", str(tmp_path / "critic5.safetensors"))
    assert r.returncode == 2 and "embeddings of size 5" in r.stderr
    # World models planning as one; modules learned on one model's embedding cannot join.
    r = jepalab(*common, "--ensemble-checkpoint", str(out), "--eval.latency_replans", "2",
                "--out", str(tmp_path / "ev2"))  # fmt: skip
    assert r.returncode == 0 and "success_rate=" in r.stdout, r.stderr
    assert (tmp_path / "ev2" / "eval" / "episodes.csv").exists()
    critic = str(tmp_path / "critic.safetensors")
    r = jepalab(*common, "--ensemble-checkpoint", str(out), "--critic", critic)
    assert r.returncode == 2 and "--critic: learned on one world model's embedding" in r.stderr
    before = (out / "eval" / "episodes.csv").read_bytes()
    r = jepalab(*common, "--ensemble-checkpoint", str(out))
    assert r.returncode == 2 and "--ensemble-checkpoint needs --out" in r.stderr, r.stderr
    assert (out / "eval" / "episodes.csv").read_bytes() == before  # the run's own, untouched

    # Resume a finished run for more steps.
    r = jepalab("train", "--out", str(out), "--resume", "--train.steps", "8")
    assert r.returncode == 0, r.stderr
    assert '"steps": 8' in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--train.lrr", "1"], "unknown config key 'train.lrr'"),
        (["evaluate", "--checkpoint", "nowhere.safetensors"], "checkpoint not found"),
        (["train", "--data.path", "nowhere.h5"], "nowhere.h5"),
        (["train", "--train.steps", "lots"], "expects int"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    r = jepalab(*args, "--out", str(tmp_path)) if args[0] != "evaluate" else jepalab(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_corrupt_dataset_via_cli(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not hdf5" * 100)
    r = jepalab("train", "--out", str(tmp_path), "--data.path", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_agent_rejects_wrong_observations_and_actions():
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    from jepalab.actor import ActionBounds
    from jepalab.config import RunConfig

    agent = Agent(model, RunConfig(), ActionBounds((-1.0, -1.0), (1.0, 1.0)))
    with pytest.raises(JepalabError, match="call set_goal"):
        agent.act(np.zeros((65, 65, 3), np.uint8))
    with pytest.raises(JepalabError, match="shape"):
        agent.set_goal(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(JepalabError, match="dtype"):
        agent.set_goal(np.zeros((65, 65, 3), np.float32))
    with pytest.raises(JepalabError, match="actions have dim 3 but the model expects 2"):
        model.rollout(torch.zeros(1, 8), torch.zeros(1, 4, 3))


@pytest.mark.parametrize("env_name", ["two-rooms", "maze"])
def test_agent_plans_inside_the_worlds_action_norm(env_name):
    # The box's corners have norm 3.46 > 2.45: planning there would feed the world model
    # actions the environment never executes (and it never saw in training).
    from jepalab.config import RunConfig
    from jepalab.envs import make_env

    env = make_env(env_name)
    cfg = RunConfig()
    cfg.planner.samples, cfg.planner.elites, cfg.planner.horizon = 16, 4, 10
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    agent = Agent.for_env(model, cfg, env)
    assert agent.mpc.planner.bounds.max_norm == pytest.approx(2.45)
    start, goal = env.reset_task(0)
    agent.set_goal(goal)
    action = agent.act(start)
    assert np.linalg.norm(action) <= 2.45 + 1e-5


def test_agent_holds_each_planned_action_for_frame_skip_steps():
    from jepalab.config import RunConfig
    from jepalab.envs import make_env

    env = make_env("two-rooms")
    cfg = RunConfig()
    cfg.model.frame_skip = 3
    cfg.planner.samples, cfg.planner.elites, cfg.planner.horizon = 16, 4, 6
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    agent = Agent.for_env(model, cfg, env)
    start, goal = env.reset_task(0)
    agent.set_goal(np.stack([goal, goal]))
    actions = [agent.act(np.stack([start, start])) for _ in range(7)]
    assert len(agent.latencies_ms) == 3  # planned at calls 0, 3 and 6
    np.testing.assert_array_equal(actions[0], actions[2])
    agent.keep(np.array([False, True]))  # a finished episode leaves the held batch too
    assert agent.act(start[None]).shape == (1, 2)


def test_bench_hierarchy_end_to_end(tmp_path):
    # Tiny budgets: the benchmark trains both worlds and both levels and writes every figure.
    run, out = tmp_path / "run", tmp_path / "hierarchy.json"
    r = jepalab(
        "bench", "hierarchy", "--run-dir", str(run), "--out", str(out), *TINY,
        "--hierarchy.train_steps", "5", "--hierarchy.depth", "2", "--hierarchy.low_horizon", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    f = json.loads(out.read_text())
    for key in ("flat", "hierarchical"):
        assert set(f[key]) >= {"success", "ms_per_step", "episodes"} and f[key]["episodes"] == 2
    assert set(f["two_rooms"]) >= {"flat_success", "hierarchical_success"}
    assert f["planning_budget"]["horizon"] == 2 and f["flat_full_horizon"]["horizon"] == 4
    assert (run / "maze" / "high.safetensors").exists()
    assert (run / "two-rooms" / "high.safetensors").exists()
    assert list((run / "maze").glob("hierarchical_*.gif"))
    # the trained high level drives `jepalab evaluate` too
    high = str(run / "maze" / "high.safetensors")
    r = jepalab(
        "evaluate", "--checkpoint", str(run / "maze"), "--high", high, "--out",
        str(tmp_path / "eval"), "--eval.episodes", "1", "--eval.latency_replans", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "success_rate=" in r.stdout


def test_bench_two_rooms_checkpoint_only_for_hierarchy(tmp_path):
    r = jepalab("bench", "ddp", "--out", str(tmp_path / "x.json"), "--two-rooms-checkpoint", "x")
    assert r.returncode != 0 and "hierarchy benchmark" in r.stderr


def test_bench_agent_end_to_end(tmp_path):
    # Tiny budgets: this checks the benchmark runs through and writes every figure it promises.
    run, out = tmp_path / "run", tmp_path / "agent.json"
    small = (
        "--agent.memory_episodes",
        "2",
        "--agent.critic_steps",
        "20",
        "--agent.hazard_steps",
        "20",
        "--hierarchy.train_steps",
        "20",
    )
    r = jepalab(
        "bench", "agent", "--run-dir", str(run), "--out", str(out), *TINY, *small,
        "--agent.mode1_steps", "20", "--eval.batch_envs", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    f = json.loads(out.read_text())
    assert set(f["critic"]) >= {"short_horizon_success", "full_horizon_success", "speedup"}
    c = f["critic"]  # the speedup is of the two planners timed in turns
    assert c["speedup"] == pytest.approx(c["full_ms_median"] / c["short_ms_median"])
    assert set(f["mode1"]) >= {"success", "mode2_success", "latency_ratio"}
    assert f["critic"]["short_horizon"] == 1 and f["experience"]["episodes"] == 2
    assert (run / "critic.safetensors").exists() and (run / "mode1.safetensors").exists()
    assert set(f["abstain"]) >= {"ood_rate", "in_distribution_rate"}
    assert set(f["risk"]) >= {"success", "plain_success", "risk"}
    assert set(f["abstain"]["by_shift"]) == {"two-doors", "thick-border", "inverted"}
    assert set(f["hazard"]) >= {"success", "hazard_rate", "without_hazard_cost"}
    assert (run / "gate.safetensors").exists() and (run / "hazard" / "hazard.safetensors").exists()
    assert set(f["hazard"]["flat_planner"]) == {"with_hazard_cost", "goal_cost_only"}
    r = jepalab(
        "evaluate", "--checkpoint", str(run), "--gate", str(run / "gate.safetensors"),
        "--out", str(tmp_path / "gated"),
    )  # fmt: skip
    assert r.returncode == 0 and "abstain_rate=" in r.stdout, r.stderr
    r = jepalab(
        "evaluate", "--checkpoint", str(run / "hazard"), "--hazard",
        str(run / "hazard" / "hazard.safetensors"), "--out", str(tmp_path / "careful"),
    )  # fmt: skip
    assert r.returncode == 0 and "hazard_rate=" in r.stdout, r.stderr
    r = jepalab(
        "evaluate", "--checkpoint", str(run / "hazard"),
        "--hazard", str(run / "hazard" / "hazard.safetensors"),
        "--high", str(run / "hazard" / "high.safetensors"),
        "--out", str(tmp_path / "guided"), "--eval.episodes", "2",
    )  # fmt: skip
    assert r.returncode == 0 and "hazard_rate=" in r.stdout, r.stderr
    r = jepalab(
        "evaluate", "--checkpoint", str(run), "--ensemble", str(run / "ensemble.safetensors"),
        "--planner.risk", "1.0", "--out", str(tmp_path / "averse"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = jepalab("evaluate", "--checkpoint", str(run), "--gate", str(run / "mode1.safetensors"))
    assert r.returncode != 0 and "safety-gate" in r.stderr

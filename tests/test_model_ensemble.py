"""World models trained apart, planning as one (world_model/model_ensemble.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jepalab.actor import ActionBounds, PlannerConfig, make_planner
from jepalab.cost import GoalEnergy, goal_cost
from jepalab.errors import JepalabError
from jepalab.world_model import WorldModel
from jepalab.world_model.model_ensemble import WorldModelEnsemble

from .conftest import tiny_config

SHAPE = (16, 16, 3)


def member(seed: int, scene_channels: int = 0, embed_dim: int = 8) -> WorldModel:
    torch.manual_seed(seed)
    encoder = "keypoints" if scene_channels else "cnn"
    model = WorldModel(
        SHAPE, 2, embed_dim=embed_dim, encoder=encoder, channels=(4, 4),
        scene_channels=scene_channels,
    )  # fmt: skip
    return model.eval()


def frames(n: int) -> torch.Tensor:
    return torch.randint(
        0, 255, (n, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


@torch.no_grad()
def test_each_member_encodes_and_predicts_its_own_part():
    a, b = member(0), member(1, embed_dim=6)
    joint = WorldModelEnsemble([a, b])
    obs, actions = frames(3), torch.rand(3, 4, 2) * 2 - 1
    z = joint.encode(obs)
    assert z.shape == (3, 14) and joint.embed_dim == 14
    torch.testing.assert_close(z, torch.cat([a.encode(obs), b.encode(obs)], -1))
    pred = joint.rollout(z, actions)
    assert pred.shape == (3, 4, 14)
    torch.testing.assert_close(pred[..., :8], a.rollout(a.encode(obs), actions))
    torch.testing.assert_close(pred[..., 8:], b.rollout(b.encode(obs), actions))
    torch.testing.assert_close(joint.step(z, actions[:, 0]), pred[:, 0])
    # The goal cost of the joint embedding is the sum of the members' goal costs.
    goal = joint.encode(frames(1)).expand(3, -1)
    parts = goal_cost(pred[:, -1, :8], goal[:, :8]) + goal_cost(pred[:, -1, 8:], goal[:, 8:])
    torch.testing.assert_close(goal_cost(pred[:, -1], goal), parts)
    assert joint.scene_map(obs) is None


@torch.no_grad()
def test_members_that_read_the_scene_get_their_own_maps():
    a, b, c = member(0, scene_channels=2), member(1), member(2, scene_channels=3)
    joint = WorldModelEnsemble([a, b, c])
    obs = frames(2)
    scene = joint.scene_map(obs)
    assert scene.shape[:2] == (2, 5)
    # Four rollouts, two per environment: rollouts 0-1 read environment 0's scene.
    z = joint.encode(obs).repeat_interleave(2, 0)
    actions = torch.rand(4, 3, 2) * 2 - 1
    pred = joint.rollout(z, actions, scene)
    for m, part, lo, hi in ((a, pred, 0, 8), (b, pred, 8, 16), (c, pred, 16, 24)):
        own = m.rollout(z[:, lo:hi], actions, m.scene_map(obs))
        torch.testing.assert_close(part[..., lo:hi], own)


def test_a_planner_plans_through_the_ensemble():
    joint = WorldModelEnsemble([member(0), member(1)])
    bounds = ActionBounds((-1.0, -1.0), (1.0, 1.0))
    config = PlannerConfig(name="cem", horizon=3, samples=32, elites=4, iterations=2)
    planner = make_planner(joint, GoalEnergy(), bounds, config)
    with torch.no_grad():
        z = joint.encode(frames(2))
        result = planner.plan(z, z.flip(0))
    assert result.actions.shape == (2, 3, 2) and bounds.contains(result.actions)
    assert torch.isfinite(result.energy).all()


def test_bad_members_and_inputs_name_the_problem():
    with pytest.raises(JepalabError, match=">= 2 members"):
        WorldModelEnsemble([member(0)])
    other = WorldModel((24, 24, 3), 2, embed_dim=8, encoder="cnn", channels=(4, 4))
    with pytest.raises(JepalabError, match=r"member 1 reads observations \(24, 24, 3\)"):
        WorldModelEnsemble([member(0), other])
    joint = WorldModelEnsemble([member(0), member(1)])
    with pytest.raises(JepalabError, match="expects 16"):
        joint.rollout(torch.zeros(2, 8), torch.zeros(2, 3, 2))


def test_a_run_trains_world_models_from_successive_seeds_and_plans_with_them(tmp_path, tiny_data):
    from jepalab.pipeline import evaluate_trained, load_world_models, run_all
    from jepalab.training import load_world_model

    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), "--train.steps", "4",
                      "--train.seed", "3", "--eval.episodes", "1", "--eval.gifs", "0",
                      "--eval.latency_replans", "2")  # fmt: skip
    summary = run_all(cfg, progress=False, world_models=2)
    members = summary["members"]
    for i, m in enumerate(members):
        assert Path(m["checkpoint"]).is_relative_to(tmp_path / f"model-{i}")
    (a, cfg_a), (b, cfg_b) = (load_world_model(m["checkpoint"]) for m in members)
    assert (cfg_a.train.seed, cfg_b.train.seed) == (3, 4)
    assert cfg_a.data_path == cfg_b.data_path == tiny_data
    assert not torch.equal(a.predictor.net[0].weight, b.predictor.net[0].weight)
    assert summary["train_seconds"] == pytest.approx(sum(m["train_seconds"] for m in members))
    assert summary["episodes"] == 1 and summary["checkpoint"] == members[0]["checkpoint"]
    # The run folder stands for all its world models when evaluated again.
    again = evaluate_trained(cfg, tmp_path, progress=False)
    assert [m["checkpoint"] for m in again["members"]] == [str(tmp_path / "model-0"),
                                                          str(tmp_path / "model-1")]  # fmt: skip
    assert again["train_seconds"] == pytest.approx(summary["train_seconds"])
    model, saved, paths = load_world_models(tmp_path, [tmp_path / "model-0"])
    assert isinstance(model, WorldModelEnsemble) and len(model.members) == 3
    assert [p.name for p in paths] == ["model-0", "model-1", "model-0"] and saved == cfg_a
    with pytest.raises(JepalabError, match="world model of 'two-rooms'; this evaluation is in"):
        load_world_models(tmp_path, env_name="reacher")
    with pytest.raises(JepalabError, match="at least 1"):
        run_all(cfg, progress=False, world_models=0)

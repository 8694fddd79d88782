"""The hierarchy: the subgoal search on known dynamics, the high level's training and
checkpoints, and the hierarchical agent's answers to unreachable and trivial goals."""

import numpy as np
import pytest
import torch
from torch import nn

from jepalab.actor import ActionBounds
from jepalab.configurator import UNREACHABLE, Configurator, HierarchicalAgent, SubgoalSearch
from jepalab.configurator.subgoals import macro_actions
from jepalab.errors import CheckpointError, JepalabError
from jepalab.training.high_level import load_high_level, save_high_level, train_high_level
from jepalab.world_model.high_level import HighLevelModel

BOUNDS = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)


class WallWorld(nn.Module):
    """Exact high-level dynamics in the box [-5, 5]^2: the state is the position, a macro
    step moves by the macro-action, and the wall x = 0 stops every step that would cross it
    except through the gap |y| < 1 (or nowhere, when sealed)."""

    def __init__(self, sealed: bool = False) -> None:
        super().__init__()
        self.sealed = sealed
        self.embed_dim = 2
        self.register_buffer("step_size", torch.tensor(1.0))
        self.register_buffer("basis", torch.eye(2))

    def step(self, z, a, scene=None):
        nxt = (z + a).clamp(-5.0, 5.0)
        crossing = torch.sign(z[:, 0]) != torch.sign(nxt[:, 0])
        mid_y = (z[:, 1] + nxt[:, 1]) / 2
        through_gap = (mid_y.abs() < 1.0) & (not self.sealed)
        return torch.where((crossing & ~through_gap)[:, None], z, nxt)


def search(world, **kw):
    return SubgoalSearch(world, BOUNDS, depth=kw.pop("depth", 30), merge=0.3, reach=0.3, **kw)


def test_macro_actions_are_feasible_headings():
    m = macro_actions(BOUNDS, headings=8, strengths=(1.0, 0.5))
    assert m.shape == (16, 2) and BOUNDS.contains(m)
    assert torch.allclose(m[:8].norm(dim=-1), torch.ones(8))


def test_search_goes_round_the_wall_through_the_gap():
    start, goal = torch.tensor([-0.5, 4.0]), torch.tensor([0.5, 4.0])  # a wall between them
    route = search(WallWorld())(start, goal, None)
    assert route.reachable and route.distance <= 0.3
    path = torch.cat([start[None], route.subgoals])
    crossings = (torch.sign(path[:-1, 0]) != torch.sign(path[1:, 0])).nonzero().squeeze(1)
    assert len(crossings) >= 1
    for i in crossings:  # every crossing happens at the gap
        assert abs(float(path[i : i + 2, 1].mean())) < 1.0
    # the greedy route (straight across) is blocked, so the route dips towards the gap
    assert float(path[:, 1].min()) < 2.0


def test_sealed_goal_is_exhausted_and_unreachable():
    route = search(WallWorld(sealed=True))(
        torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 0.0]), None
    )
    assert route.exhausted and not route.reachable


def test_goal_at_the_start_needs_no_subgoal():
    route = search(WallWorld())(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.1]), None)
    assert route.reachable and len(route.subgoals) == 0


def test_blocked_step_sends_the_route_elsewhere():
    # A model that wrongly allows crossing anywhere; blocking the step it imagined first
    # (from the start straight across) forces a different first crossing.
    class Leaky(WallWorld):
        def step(self, z, a, scene=None):
            return z + a

    start, goal = torch.tensor([-0.5, 4.0]), torch.tensor([1.5, 4.0])
    s = search(Leaky())
    first = s(start, goal, None)
    blocked = (start[None], first.subgoals[:1])
    second = s(start, goal, None, blocked)
    assert second.reachable
    assert float((second.subgoals[0] - first.subgoals[0]).norm()) > 0.6


def test_search_refuses_an_uncalibrated_high_level():
    w = WallWorld()
    w.step_size.zero_()
    with pytest.raises(JepalabError, match="untrained"):
        search(w)


@pytest.fixture(scope="module")
def tiny_high(tiny_model, tiny_data):
    """A tiny trained world model, and a high level trained on top of it."""
    model, cfg, out = tiny_model
    high = HighLevelModel(model, steps=2, hidden=32, glimpse_points=3)
    fit = train_high_level(high, model, tiny_data, BOUNDS_2D, steps=150, batch=32, progress=False)
    return model, cfg, high, fit, out


BOUNDS_2D = ActionBounds((-2.45, -2.45), (2.45, 2.45), max_norm=2.45)


def test_high_level_learns_the_low_levels_consequences(tiny_high):
    _, _, high, fit, _ = tiny_high
    assert fit["val_pred"] < 0.5 * fit["val_static"]
    assert fit["step_size"] > 0 and high.basis.shape[0] == high.embed_dim
    assert 1 <= high.basis.shape[1] <= high.embed_dim


def test_high_level_checkpoint_round_trip_and_mismatch(tiny_high, tmp_path):
    model, _, high, _, _ = tiny_high
    path = tmp_path / "high.safetensors"
    save_high_level(high, path)
    loaded = load_high_level(path, model)
    z = torch.randn(3, model.embed_dim)
    scene = model.scene_map(torch.zeros(1, *model.obs_shape, dtype=torch.uint8))
    a = torch.zeros(3, 2)
    assert torch.allclose(loaded.step(z, a, scene), high.step(z, a, scene))
    assert torch.equal(loaded.basis, high.basis)
    other = HighLevelModel(model, steps=2, hidden=32, glimpse_points=3)
    other.embed_dim = model.embed_dim + 1
    save_high_level(other, tmp_path / "other.safetensors")
    with pytest.raises(JepalabError, match="embeddings"):
        load_high_level(tmp_path / "other.safetensors", model)
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_high_level(tmp_path / "bad.safetensors", model)


def test_hierarchical_agent_abstains_where_the_search_is_sealed(tiny_high):
    from jepalab.configurator import Route
    from jepalab.envs import env_from_config

    model, cfg, high, _, _ = tiny_high
    env = env_from_config(cfg.env)
    agent = HierarchicalAgent(Configurator(model, high, cfg, BOUNDS_2D))
    sealed = Route(torch.zeros(0, model.embed_dim), 5.0, False, 1, exhausted=True)
    agent.configurator.route = lambda *args: sealed  # every state the model reaches is seen
    obs, goal = env.reset_task(1_000_000)
    agent.set_goal(goal)
    assert np.all(agent.act(obs) == 0) and agent.abstained == [UNREACHABLE]
    for _ in range(3):  # it keeps answering, with no action, until the episode ends
        obs, *_ = env.step(agent.act(obs))
    assert np.all(agent.act(obs) == 0)


def test_hierarchical_agent_runs_episodes_within_their_budget(tiny_high):
    from jepalab.eval.evaluate import run_episodes

    model, cfg, high, _, _ = tiny_high
    agent = HierarchicalAgent(Configurator(model, high, cfg, BOUNDS_2D))
    ran = run_episodes(model, cfg, [1_000_000, 1_000_001], agent=agent)
    ok, steps = ran.success, ran.steps
    assert len(ok) == 2 and all(n <= 200 for n in steps)
    assert agent.searches >= 2 and agent.subgoal is not None


def test_hierarchical_agent_refuses_a_goal_in_a_forbidden_region(tiny_high):
    from jepalab.envs import env_from_config

    model, cfg, high, _, _ = tiny_high

    class Everywhere:  # every state is inside a hot cell
        def __call__(self, z, scene):
            return torch.ones(len(z))

    agent = HierarchicalAgent(Configurator(model, high, cfg, BOUNDS_2D, hazard=Everywhere()))
    assert "hazard" in agent.low.mpc.planner.energy.weights  # its low level plans around them
    obs, goal = env_from_config(cfg.env).reset_task(1_000_000)
    agent.set_goal(goal)
    assert agent.abstained[0].startswith("unreachable goal: the goal is in a forbidden region")
    assert np.all(agent.act(obs) == 0) and agent.searches == 0

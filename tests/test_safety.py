"""Knowing when not to act (the safety gate), the hazard cost that keeps plans out of
forbidden regions, and risk-averse planning with an ensemble of predictors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepalab.actor import MPC, ActionBounds, PlannerConfig, make_planner
from jepalab.agent import Agent
from jepalab.cost import (
    GoalEnergy,
    HazardProbe,
    load_hazard_probe,
    save_hazard_probe,
    train_hazard_probe,
)
from jepalab.envs import make_env
from jepalab.errors import CheckpointError, ConfigError, JepalabError
from jepalab.safety import SURPRISE_WINDOW, SafetyGate
from jepalab.training.high_level import encode_states
from jepalab.world_model.predictor_ensemble import (
    PredictorEnsemble,
    load_predictor_ensemble,
    save_predictor_ensemble,
    train_predictor_ensemble,
)

BOUNDS = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)


@pytest.fixture(scope="module")
def gate(tiny_model, tiny_data):
    model, cfg, _ = tiny_model
    return SafetyGate.fit(model, tiny_data, cfg.model.frame_skip, 0.25, 0, bank_size=200)


def task(name: str = "two-rooms", seed: int = 1_000_000):
    return make_env(name).reset_task(seed)


def test_banked_observations_are_perfectly_familiar(tiny_model, tiny_data, gate):
    model, _, _ = tiny_model
    data = tiny_data
    from jepalab.data import EpisodeDataset

    with EpisodeDataset(data) as ds:
        frames = torch.from_numpy(ds.frames(np.arange(ds.num_frames)))
    novelty = gate.novelty(model, frames)
    assert (novelty >= 0).all() and (novelty == 0).sum() >= 1  # its own nearest neighbour
    assert gate.novelty_threshold > 0 and gate.surprise_threshold > 0


def test_agent_abstains_in_an_unseen_world_and_says_why(tiny_model, gate):
    model, cfg, _ = tiny_model
    start, goal = task("two-rooms-inverted")
    agent = Agent(model, cfg, BOUNDS, gate=gate)
    agent.set_goal(goal)
    assert agent.abstained[0] is not None and agent.abstained[0].startswith("unfamiliar")
    assert "goal" in agent.abstained[0]
    np.testing.assert_array_equal(agent.act(start), np.zeros(2))


def test_gate_lets_a_familiar_task_through(tiny_model, gate):
    model, cfg, _ = tiny_model
    start, goal = task()
    wide = SafetyGate(gate.bank, float("inf"), float("inf"))
    agent = Agent(model, cfg, BOUNDS, gate=wide)
    agent.set_goal(goal)
    agent.act(start)
    assert agent.abstained == [None]


def test_surprise_is_judged_over_a_window_of_decisions(tiny_model, gate):
    model, cfg, _ = tiny_model
    env = make_env("two-rooms")
    obs, goal = env.reset_task(1_000_000)
    touchy = SafetyGate(gate.bank, float("inf"), float("inf"))
    touchy.calibrate_surprise(torch.zeros(10))  # any prediction error at all is surprising
    agent = Agent(model, cfg, BOUNDS, gate=touchy)
    agent.set_goal(goal)
    decisions = 0
    while agent.abstained == [None] and decisions < 10:
        held = agent.decisions
        obs, *_ = env.step(agent.act(obs))
        decisions = agent.decisions if agent.decisions > held else decisions
    # the first decision looks at the start; the window fills over the next ones
    assert agent.abstained[0].startswith("surprised") and decisions == SURPRISE_WINDOW + 1


def test_peak_surprise_is_kept_per_task_as_episodes_finish(tiny_model, gate):
    """Calibration reads one peak per episode, so finished episodes must keep theirs."""
    model, cfg, _ = tiny_model
    envs = [make_env("two-rooms") for _ in range(3)]
    starts, goals = zip(*(e.reset_task(1_000_000 + i) for i, e in enumerate(envs)), strict=True)
    watch = SafetyGate(gate.bank, float("inf"), float("inf"))
    agent = Agent(model, cfg, BOUNDS, gate=watch)
    agent.set_goal(np.stack(goals))
    obs, live = np.stack(starts), [0, 1, 2]
    for decision in range(3 * SURPRISE_WINDOW):
        if decision == SURPRISE_WINDOW + 1:  # task 1 ends; its peak must stay its own
            frozen = agent.peak_surprise[1].item()
            agent.keep(np.array([True, False, True]))
            live = [0, 2]
        for _ in range(cfg.model.frame_skip):
            actions = agent.act(obs[live])
            for k, i in enumerate(live):
                obs[i] = envs[i].step(actions[k])[0]
    assert agent.peak_surprise.shape == (3,) and (agent.peak_surprise > 0).all()
    assert agent.peak_surprise[1].item() == frozen
    assert agent.abstained == [None, None]


def test_novelty_is_calibrated_on_the_peak_of_each_task(tiny_model, gate):
    """A task's novelty is the higher of its goal's and its start's; at the highest peak of
    some tasks none of those tasks is turned down, just below it one is."""
    model, cfg, _ = tiny_model
    starts, goals = map(np.stack, zip(*(task(seed=1_000_000 + i) for i in range(4)), strict=True))
    watch = SafetyGate(gate.bank, float("inf"), float("inf"))
    agent = Agent(model, cfg, BOUNDS, gate=watch)
    agent.set_goal(goals)
    agent.act(starts)
    expected = torch.maximum(
        gate.novelty(model, torch.from_numpy(starts)), gate.novelty(model, torch.from_numpy(goals))
    )
    torch.testing.assert_close(agent.peak_novelty, expected)
    for quantile, turned_down in ((1.0, 0), (0.5, 2)):
        calibrated = SafetyGate(gate.bank, float("inf"), float("inf"))
        calibrated.calibrate_novelty(agent.peak_novelty, quantile)
        judged = Agent(model, cfg, BOUNDS, gate=calibrated)
        judged.set_goal(goals)
        judged.act(starts)
        assert sum(r is not None for r in judged.abstained) == turned_down
        assert all(r.startswith("unfamiliar") for r in judged.abstained if r is not None)


def test_gate_round_trip_and_bad_input(tiny_model, tiny_data, gate, tmp_path):
    model, _, _ = tiny_model
    data = tiny_data
    gate.save(tmp_path / "gate.safetensors")
    back = SafetyGate.load(tmp_path / "gate.safetensors")
    torch.testing.assert_close(back.bank, gate.bank)
    assert back.novelty_threshold == gate.novelty_threshold
    with pytest.raises(JepalabError, match="fit the gate on this world model"):
        SafetyGate(torch.zeros(3, 5), 1.0, 1.0).novelty(model, torch.from_numpy(task()[0][None]))
    with pytest.raises(JepalabError, match="finite surprises"):
        gate.calibrate_surprise(torch.zeros(0))
    with pytest.raises(JepalabError, match="finite novelties"):
        gate.calibrate_novelty(torch.tensor([0.1, float("nan")]))
    with pytest.raises(JepalabError, match="quantiles"):
        SafetyGate.fit(model, data, quantiles=(0.99, 1.0))
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        SafetyGate.load(tmp_path / "broken.safetensors")


class HotDisc:
    """1 within 1.0 of (2.5, 0), 0 beyond 1.5: a forbidden region on the straight path."""

    def __call__(self, z: torch.Tensor, scene: torch.Tensor | None) -> torch.Tensor:
        return (1.5 - (z - torch.tensor([2.5, 0.0])).norm(dim=-1)).clamp(0, 0.5) * 2


@pytest.mark.parametrize("weight", [0.0, 10.0])
def test_the_hazard_cost_steers_the_plan_around_a_forbidden_region(weight: float) -> None:
    class PointMass:
        def rollout(self, z0, actions):
            return z0[:, None] + actions.cumsum(dim=1)

    cfg = PlannerConfig(horizon=8, action_repeat=1, samples=256, elites=16, iterations=4)
    energy = GoalEnergy(1.0, 0.1, hazard=HotDisc() if weight else None, hazard_weight=weight)
    mpc = MPC(make_planner(PointMass(), energy, BOUNDS, cfg))
    mpc.reset(1)
    z, goal, closest = torch.zeros(1, 2), torch.tensor([[5.0, 0.0]]), float("inf")
    for _ in range(30):
        z = z + mpc.act(z, goal)
        closest = min(closest, float((z - torch.tensor([2.5, 0.0])).norm()))
    assert float((z - goal).norm()) < 0.3  # it gets there either way ...
    assert (closest > 1.0) == bool(weight)  # ... through the region only without the cost


def test_hazard_probe_learns_from_recorded_distances(tiny_model, tiny_data, tmp_path):
    model, _, _ = tiny_model
    data = tiny_data
    encoded = encode_states(model, data, list(range(4)))
    # a made-up region: the frames of the first episode are near it
    distance = torch.where(encoded.episode == 0, 0.5, 20.0)
    probe = HazardProbe(model)
    losses = train_hazard_probe(
        probe, encoded.z, encoded.scenes, encoded.episode, distance, steps=150, batch=64
    )
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    save_hazard_probe(probe, tmp_path / "hazard.safetensors")
    back = load_hazard_probe(tmp_path / "hazard.safetensors", model)
    z, scenes = encoded.z[:8], encoded.scenes[encoded.episode[:8]]
    torch.testing.assert_close(back(z, scenes), probe.eval()(z, scenes))
    with pytest.raises(JepalabError, match="nothing to learn a hazard from"):
        train_hazard_probe(probe, encoded.z, encoded.scenes, encoded.episode, distance + 50)
    with pytest.raises(JepalabError, match="as many frames"):
        train_hazard_probe(probe, encoded.z, encoded.scenes, encoded.episode[:3], distance)


def test_risk_averse_planning_keeps_to_where_the_model_is_sure() -> None:
    class PointMass:
        def rollout(self, z0, actions):
            return z0[:, None] + actions.cumsum(dim=1)

    def unsure(z, a, scene):  # the model knows nothing about the disc around (2.5, 0)
        return HotDisc()(z + a, scene)

    cfg = PlannerConfig(horizon=8, action_repeat=1, samples=256, elites=16, iterations=4)
    for risk in (0.0, 10.0):
        cfg.risk = risk
        mpc = MPC(make_planner(PointMass(), GoalEnergy(1.0, 0.1), BOUNDS, cfg, unsure))
        mpc.reset(1)
        z, goal, closest = torch.zeros(1, 2), torch.tensor([[5.0, 0.0]]), float("inf")
        for _ in range(30):
            z = z + mpc.act(z, goal)
            closest = min(closest, float((z - torch.tensor([2.5, 0.0])).norm()))
        assert float((z - goal).norm()) < 0.3
        assert (closest > 1.0) == bool(risk)
    cfg.risk = 1.0
    with pytest.raises(ConfigError, match="needs an uncertainty estimate"):
        make_planner(PointMass(), GoalEnergy(), BOUNDS, cfg)


def test_predictor_ensemble_learns_and_disagrees_off_the_data(tiny_model, tiny_data, tmp_path):
    model, cfg, _ = tiny_model
    data = tiny_data
    ensemble = PredictorEnsemble(model, members=4, hidden=32)
    losses = train_predictor_ensemble(
        ensemble, data, cfg.model.frame_skip, 0.25, steps=150, batch=32
    )
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    env = make_env("two-rooms")
    obs = torch.from_numpy(np.stack([env.reset_task(s)[0] for s in range(8)]))
    with torch.no_grad():
        z, scene = model.encode(obs), model.scene_map(obs)
        usual = ensemble.spread(z, torch.full((8, 2), 1.0), scene)
        wild = ensemble.spread(z, torch.full((8, 2), 40.0), scene)  # never seen such actions
    assert (usual >= 0).all() and wild.mean() > 10 * usual.mean()
    save_predictor_ensemble(ensemble, tmp_path / "ensemble.safetensors")
    back = load_predictor_ensemble(tmp_path / "ensemble.safetensors", model)
    torch.testing.assert_close(back.spread(z, z[:, :2], scene), ensemble.spread(z, z[:, :2], scene))
    with pytest.raises(JepalabError, match="needs >= 2 members"):
        PredictorEnsemble(model, members=1)


def test_a_goal_in_a_forbidden_region_is_refused_not_pursued(tiny_model) -> None:
    model, cfg, _ = tiny_model

    class Everywhere:  # every state is inside a hot cell
        def __call__(self, z, scene):
            return torch.ones(len(z))

    start, goal = task()
    agent = Agent(model, cfg, BOUNDS, hazard=Everywhere())
    agent.set_goal(goal)
    assert agent.abstained[0].startswith("unreachable goal: the goal is in a forbidden region")
    np.testing.assert_array_equal(agent.act(start), np.zeros(2))

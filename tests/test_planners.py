"""Planners and MPC on a point mass whose embedding is its position, so the optimum is known."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from torch import nn

from jepalab.actor import (
    MPC,
    ActionBounds,
    Planner,
    PlannerConfig,
    make_planner,
)
from jepalab.cost import GoalEnergy
from jepalab.errors import ConfigError, JepalabError

BOUNDS = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)
STARTS = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.5], [0.5, -1.5]])
GOALS = torch.tensor([[3.0, 0.0], [-1.0, 2.0], [1.0, -1.0], [0.5, 2.5]])  # <= 4 steps away
NAMES = ("cem", "mppi", "gradient")


class PointMass:
    """``rollout(z0, a) = z0 + cumsum(a)``: each action moves the point by itself."""

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return z0[:, None] + actions.cumsum(dim=1)


class Wall:
    """A point mass that cannot cross the wall ``x = 0`` except through the gap ``|y| < 0.5``."""

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z, path = z0, []
        for action in actions.unbind(dim=1):
            nxt = z + action
            blocked = (z[:, 0] < 0) != (nxt[:, 0] < 0)
            blocked &= nxt[:, 1].abs() >= 0.5
            x = torch.where(blocked, torch.where(z[:, 0] < 0, -1e-3, 1e-3), nxt[:, 0])
            z = torch.stack([x, nxt[:, 1]], dim=1)
            path.append(z)
        return torch.stack(path, dim=1)


def make(name: str, model: object = None, **overrides: object) -> Planner:
    """A planner tuned for the point mass: cheap, but enough to solve it."""
    settings = {"horizon": 10, "action_repeat": 1, "samples": 128, "elites": 16, "iterations": 5}
    if name == "gradient":
        settings["iterations"] = 40
    config = PlannerConfig(name=name, **{**settings, **overrides})
    return make_planner(model or PointMass(), GoalEnergy(), BOUNDS, config)


def final_position(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return PointMass().rollout(z0, actions)[:, -1]


@pytest.mark.parametrize("action_repeat", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_reachable_goals_are_reached_in_imagination(name: str, action_repeat: int) -> None:
    result = make(name, action_repeat=action_repeat).plan(STARTS, GOALS)

    assert result.actions.shape == (4, 10, 2)
    assert BOUNDS.contains(result.actions)
    distance = (final_position(STARTS, result.actions) - GOALS).norm(dim=1)
    assert (distance < 0.2).all(), distance
    torch.testing.assert_close(result.energy, distance.square())


@pytest.mark.parametrize("name", NAMES)
def test_held_actions_respect_the_bounds(name: str) -> None:
    far = GOALS * 10  # pushes every candidate against the bounds
    result = make(name, action_repeat=3).plan(STARTS, far)

    assert result.actions.shape == (4, 10, 2)  # K = 4 decisions, the last cropped to one step
    assert BOUNDS.contains(result.actions)
    held = result.actions[:, :9].reshape(4, 3, 3, 2)
    torch.testing.assert_close(held, held[:, :, :1].expand_as(held))


@pytest.mark.parametrize("name", NAMES)
def test_unreachable_goal_still_draws_the_plan_towards_it(name: str) -> None:
    far = torch.tensor([[20.0, 0.0], [0.0, -20.0], [-20.0, 20.0], [15.0, 15.0]])
    result = make(name).plan(STARTS, far)

    before = (STARTS - far).norm(dim=1)
    after = (final_position(STARTS, result.actions) - far).norm(dim=1)
    progress = before - after
    assert (progress > 5.0).all(), progress  # 10 steps of length <= 1 make at most 10


@pytest.mark.parametrize("name", NAMES)
def test_mpc_reaches_every_goal(name: str) -> None:
    mpc = MPC(make(name, iterations=3 if name != "gradient" else 20))
    mpc.reset(num_envs=4)
    position, reached = STARTS.clone(), torch.zeros(4, dtype=torch.bool)
    for _ in range(40):
        action = mpc.act(position, GOALS)
        assert BOUNDS.contains(action)
        position = position + action
        reached |= (position - GOALS).norm(dim=1) < 0.1
        if reached.all():
            break

    assert reached.all(), (position - GOALS).norm(dim=1)
    assert len(mpc.latencies_ms) > 1
    assert all(latency > 0 for latency in mpc.latencies_ms)


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_sampling_planners_find_the_gap_in_a_wall(name: str) -> None:
    start, goal = torch.tensor([[-2.0, 2.0]]), torch.tensor([[2.0, 2.0]])
    result = make(name, model=Wall(), iterations=8, samples=256).plan(start, goal)

    assert (Wall().rollout(start, result.actions)[:, -1] - goal).norm() < 0.3


@pytest.mark.parametrize("name", NAMES)
def test_an_exact_warm_start_is_kept(name: str) -> None:
    straight = (GOALS - STARTS) / 10
    init = straight[:, None].expand(4, 10, 2)
    result = make(name, iterations=1).plan(STARTS, GOALS, init=init)

    assert (result.energy < 1e-8).all(), result.energy


@pytest.mark.parametrize("name", NAMES)
def test_planning_is_reproducible_for_a_seed(name: str) -> None:
    first = make(name, seed=7).plan(STARTS, GOALS).actions
    again = make(name, seed=7).plan(STARTS, GOALS).actions
    other = make(name, seed=8).plan(STARTS, GOALS).actions

    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_gradient_planner_leaves_model_gradients_alone() -> None:
    class Linear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(2))

        def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            return z0[:, None] + (actions * self.gain).cumsum(dim=1)

    model = Linear()
    result = make("gradient", model=model).plan(STARTS, GOALS)

    assert model.gain.grad is None
    assert not result.actions.requires_grad and not result.energy.requires_grad


class Scripted(Planner):
    """Plan ``n`` holds ``n / 10`` in x and ``h / 100 + e / 10`` in y; records its warm starts."""

    def __init__(self, horizon: int = 5) -> None:
        super().__init__(
            PointMass(), GoalEnergy(), BOUNDS, PlannerConfig(horizon=horizon, action_repeat=1)
        )
        self.warm_starts: list[torch.Tensor] = []

    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.warm_starts.append(mean)
        num_envs, steps, _ = mean.shape
        y = torch.arange(steps) / 100 + torch.arange(num_envs)[:, None] / 10
        plan = torch.stack([torch.full_like(y, len(self.warm_starts) / 10), y], dim=-1)
        return plan, mean.new_zeros(num_envs)


def test_mpc_replans_every_k_steps_from_the_shifted_plan() -> None:
    planner = Scripted()
    mpc = MPC(planner, replan_every=2)
    mpc.reset(num_envs=3)
    z = torch.zeros(3, 2)
    actions = [mpc.act(z, z) for _ in range(3)]

    assert len(planner.warm_starts) == len(mpc.latencies_ms) == 2
    assert torch.equal(planner.warm_starts[0], torch.zeros(3, 5, 2))
    first_plan = planner.warm_starts[1][:, :3]  # plan 1 shifted by the two steps executed
    assert torch.allclose(first_plan[..., 0], torch.full((3, 3), 0.1))
    torch.testing.assert_close(first_plan[0, :, 1], torch.tensor([0.02, 0.03, 0.04]))
    assert torch.equal(planner.warm_starts[1][:, 3:], torch.zeros(3, 2, 2))
    torch.testing.assert_close(actions[1], torch.tensor([[0.1, 0.01], [0.1, 0.11], [0.1, 0.21]]))
    torch.testing.assert_close(actions[2][:, 0], torch.full((3,), 0.2))  # from plan 2


def test_mpc_reset_mask_drops_one_warm_start_and_replans() -> None:
    planner = Scripted()
    mpc = MPC(planner, replan_every=3)
    z = torch.zeros(3, 2)
    mpc.act(z, z)
    mpc.act(z, z, reset=torch.tensor([False, True, False]))

    assert len(planner.warm_starts) == 2
    warm = planner.warm_starts[1]
    assert torch.equal(warm[1], torch.zeros(5, 2))
    torch.testing.assert_close(warm[2, :4, 1], torch.tensor([0.21, 0.22, 0.23, 0.24]))
    with pytest.raises(JepalabError, match="environments"):
        mpc.act(torch.zeros(2, 2), torch.zeros(2, 2))


def test_bad_inputs_name_the_problem() -> None:
    planner = make("cem")
    with pytest.raises(JepalabError, match="embedding size"):
        planner.plan(STARTS, torch.zeros(4, 3))
    with pytest.raises(JepalabError, match="environments"):
        planner.plan(STARTS, GOALS[:2])
    with pytest.raises(JepalabError, match="init"):
        planner.plan(STARTS, GOALS, init=torch.zeros(4, 9, 2))
    with pytest.raises(JepalabError, match="finite"):
        planner.plan(STARTS, GOALS.clone().fill_(float("nan")))
    with pytest.raises(JepalabError, match="cem"):
        make("beam")
    with pytest.raises(ConfigError, match="elites"):
        make("cem", elites=500)
    with pytest.raises(ConfigError, match="horizon"):
        make("mppi", horizon=0)
    with pytest.raises(ConfigError, match="replan_every"):
        MPC(planner, replan_every=11)


def test_bounds_project_into_box_and_ball() -> None:
    bounds = ActionBounds((-1.0, 0.0), (1.0, 2.0), max_norm=1.5)
    a = torch.tensor([[3.0, 3.0], [0.5, -1.0], [0.3, 0.4]])
    projected = bounds.project(a)

    assert bounds.contains(projected) and not bounds.contains(a)
    torch.testing.assert_close(projected[1:], torch.tensor([[0.5, 0.0], [0.3, 0.4]]))
    torch.testing.assert_close(projected[0].norm(), torch.tensor(1.5))
    torch.testing.assert_close(bounds.scale, torch.tensor([1.0, 1.0]))


def test_bounds_from_a_gymnasium_box_and_validation() -> None:
    space = gymnasium.spaces.Box(-2.0, 2.0, shape=(3,), dtype=np.float32)
    bounds = ActionBounds.from_space(space, max_norm=1.0)

    assert bounds.dim == 3 and bounds.low == (-2.0,) * 3
    torch.testing.assert_close(bounds.scale, torch.ones(3))
    with pytest.raises(JepalabError, match="low < high"):
        ActionBounds((1.0,), (0.0,))
    with pytest.raises(JepalabError, match="origin"):
        ActionBounds((1.0,), (2.0,), max_norm=1.0)
    with pytest.raises(JepalabError, match="Box"):
        ActionBounds.from_space(gymnasium.spaces.Discrete(3))


def test_goal_energy_weighs_terminal_and_running_distances() -> None:
    pred = torch.tensor([[[1.0, 0.0], [2.0, 0.0]]])  # (N=1, H=2, D=2)
    goal = torch.tensor([[2.0, 0.0]])

    torch.testing.assert_close(GoalEnergy()(pred, goal), torch.tensor([0.0]))
    torch.testing.assert_close(GoalEnergy(0.0, 1.0)(pred, goal), torch.tensor([0.5]))
    torch.testing.assert_close(GoalEnergy(2.0, 4.0)(pred + 1, goal), torch.tensor([4.0 + 6.0]))
    with pytest.raises(JepalabError):
        GoalEnergy(0.0, 0.0)


def test_mpc_keep_drops_finished_environments_and_their_plans() -> None:
    mpc = MPC(make("cem"), replan_every=3)
    mpc.reset(4)
    mpc.act(STARTS, GOALS)
    kept = torch.tensor([True, False, True, True])
    plan = mpc._plan[kept].clone()
    mpc.keep(kept)
    second = mpc.act(STARTS[kept], GOALS[kept])  # no replan yet: the stored plans continue
    assert torch.equal(second, plan[:, 1])
    with pytest.raises(JepalabError, match="reset for 3 environments but got 4"):
        mpc.act(STARTS, GOALS)

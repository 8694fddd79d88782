"""The agent's learned modules: critic (TD on short-term memory), critic as terminal cost,
Mode-1 distillation, and the agent switching between Mode-1 and Mode-2."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from jepalab.actor import MPC, ActionBounds, PlannerConfig, make_planner
from jepalab.actor.policy import Mode1Policy, distill
from jepalab.agent import Agent
from jepalab.config import AgentConfig, RunConfig
from jepalab.configurator.detour import Detours
from jepalab.configurator.routes import Routes, check_route_config
from jepalab.cost import STEP_COST, Critic, GoalEnergy, goal_cost, train_critic
from jepalab.data import EpisodeDataset
from jepalab.errors import ConfigError, DataError, JepalabError
from jepalab.memory import EpisodicMemory, ShortTermMemory
from jepalab.world_model import WorldModel

from .test_planners import Wall


def _chain(length: int, step: float = 0.25) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 1-D walk of ``length`` steps of ``step`` ending at the goal 0: from any state the
    future is the same, whichever chain it is on."""
    states = step * torch.arange(length, -1, -1.0)[:, None]
    actions = (states[1:] - states[:-1]).clone()
    return states, actions, goal_cost(states[1:], torch.zeros(1))


def test_hindsight_goals_are_later_states_of_the_same_episode():
    mem = ShortTermMemory(100)
    for k in range(3):
        states = torch.stack([torch.full((5,), float(k)), torch.arange(5.0)], 1)
        mem.add_episode(states, torch.zeros(4, 1), torch.ones(4), torch.tensor([k, 99.0]))
    b = mem.sample(400, torch.Generator().manual_seed(0), relabel=0.5)
    assert 0.3 < b.relabeled.float().mean() < 0.7
    own = ~b.relabeled
    assert torch.equal(b.goal[own, 1], torch.full((int(own.sum()),), 99.0))
    hind = b.relabeled
    assert torch.equal(b.goal[hind, 0], b.state[hind, 0])  # same episode
    assert bool((b.goal[hind, 1] > b.state[hind, 1]).all())  # a later state
    reached = b.goal[hind, 1] == b.next_state[hind, 1]
    assert torch.equal(b.done[hind].bool(), reached)


def test_a_budget_cut_episode_is_not_terminal():
    mem = ShortTermMemory(100)
    mem.add_episode(*_chain(3), terminated=False)
    b = mem.sample(100, torch.Generator().manual_seed(0))
    assert not b.done.any()
    with pytest.raises(JepalabError, match="relabel"):
        mem.sample(4, relabel=1.5)
    with pytest.raises(JepalabError, match="goal must be"):
        mem.add_episode(*_chain(3), goal=torch.zeros(2))


def test_critic_learns_the_discounted_cost_to_come_of_a_known_chain():
    torch.manual_seed(0)
    mem = ShortTermMemory(1000)
    for length in (4, 6, 8):
        mem.add_episode(*_chain(length), goal=torch.zeros(1))
    critic = Critic(1, hidden=64, gamma=0.8)
    train_critic(critic, mem, steps=3000, batch=64, lr=3e-3, relabel=0.0, tau=0.05, progress=False)
    states, _, costs = _chain(8)
    # V(s_t) = (1 - gamma) sum_k gamma^k c_{t+k}; the episode ends at the goal
    discount = 0.8 ** torch.arange(8.0)
    exact = torch.stack([(1 - 0.8) * (costs[t:] * discount[: 8 - t]).sum() for t in range(8)])
    with torch.no_grad():
        learned = critic(states[:-1], torch.zeros(8, 1))
    torch.testing.assert_close(learned, exact, atol=0.05 * float(exact.max()), rtol=0.0)


def test_training_on_an_empty_memory_says_so():
    with pytest.raises(JepalabError, match="empty"):
        train_critic(Critic(2), ShortTermMemory(10), progress=False)
    with pytest.raises(JepalabError, match="empty"):
        distill(Mode1Policy(2, ActionBounds((-1.0,), (1.0,))), ShortTermMemory(10), progress=False)
    with pytest.raises(JepalabError, match="shape"):
        Critic(4)(torch.zeros(3, 4), torch.zeros(3, 5))


class DetourCritic(nn.Module):
    """The exact cost to come in the :class:`Wall` world: straight to the goal on its side,
    through the gap at the origin from the other."""

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        straight = (state - goal).norm(dim=-1)
        via_gap = state.norm(dim=-1) + goal.norm(dim=-1)
        same_side = (state[:, 0] < 0) == (goal[:, 0] < 0)
        return torch.where(same_side, straight, via_gap)


def _drive(energy: GoalEnergy, steps: int, detours: Detours | None = None) -> torch.Tensor:
    """Receding-horizon control in the wall world with a 2-step horizon."""
    bounds = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)
    config = PlannerConfig(horizon=2, action_repeat=1, samples=128, elites=16, iterations=4)
    mpc = MPC(make_planner(Wall(), energy, bounds, config))
    z, goal = torch.tensor([[-2.0, 3.0]]), torch.tensor([[2.0, 3.0]])
    mpc.reset(1)
    if detours is not None:
        detours.reset(goal)
    for _ in range(steps):
        aim = goal if detours is None else detours.goals(z)
        z = Wall().rollout(z, mpc.act(z, aim)[:, None])[:, -1]
    return (z - goal).norm(dim=-1)


def test_critic_as_terminal_cost_lets_a_short_horizon_find_the_door():
    # 2 steps of 1 cannot see the gap 3 away; the straight-line energy presses into the wall.
    assert float(_drive(GoalEnergy(1.0, 0.0), 20)) > 3.0
    with_critic = GoalEnergy(0.0, 0.0, critic=DetourCritic(), critic_weight=1.0)
    assert float(_drive(with_critic, 20)) < 0.5


def _detours(bank: list[list[float]], **settings: float) -> Detours:
    config = AgentConfig(detour_patience=3, detour_steps=6, detour_cost=0.01, detour_rest=0.5)
    for name, value in settings.items():
        setattr(config, name, value)
    return Detours(torch.tensor(bank), 1.0, config)


def test_a_detour_frees_a_short_horizon_pressed_against_a_wall():
    # Pressed into the wall the point rests off the goal; a remembered state beyond the
    # wall's end (the gap) is somewhere else to start from, and from there the goal is near.
    detours = _detours([[0.0, 0.0]])
    assert float(_drive(GoalEnergy(1.0, 0.0), 30, detours)) < 0.5
    assert detours.taken.tolist() == [1]


def test_detours_wait_for_a_rest_off_the_goal_and_then_return_to_it():
    detours = _detours([[10.0, 10.0]], detour_steps=2)
    goal = torch.zeros(3, 2)
    detours.reset(goal)
    aims = []
    for t in range(8):
        # resting off the goal, resting at the goal, moving off the goal
        z = torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0 * t, 5.0]])
        aims.append(detours.goals(z).clone())
    away = [bool((a[0] == 10.0).all()) for a in aims]
    # two decisions fill the window, then 3 without progress: the 5th and 6th go away
    assert away == [False, False, False, False, True, True, False, False]
    assert all((a[1:] == goal[1:]).all() for a in aims)
    assert detours.taken.tolist() == [1, 0, 0]
    detours.keep(torch.tensor([False, True, True]))
    assert detours.goals(torch.zeros(2, 2)).shape == (2, 2) and detours.taken.tolist() == [0, 0]


@pytest.mark.parametrize(
    "name, value",
    [("detour_patience", -1), ("detour_steps", 0), ("detour_rest", 0.0), ("detour_bank", 1)],
)
def test_bad_detour_settings_are_refused(name, value):
    with pytest.raises(ConfigError, match=f"agent.{name}"):
        _detours([[0.0, 0.0]], **{name: value})


def test_detours_bank_dataset_frames_and_measure_one_step(tiny_model):
    model, cfg, _ = tiny_model
    cfg.agent.detour_patience, cfg.agent.detour_bank = 2, 16
    detours = Detours.from_dataset(model, cfg.data_path, cfg.agent)
    assert detours.bank.shape[1] == model.embed_dim and 8 < len(detours.bank) <= 16
    assert detours.step > 0


def test_routes_remember_every_nth_dataset_frame(tiny_model):
    model, cfg, _ = tiny_model
    cfg.agent.route_every = 2
    routes = Routes.from_dataset(model, cfg.data_path, cfg.agent, progress=False)
    memory = routes.memory
    with EpisodeDataset(cfg.data_path) as ds:
        lengths = ds.episode_lengths
        fifth = torch.from_numpy(ds.frames(memory.frames[5:6]))
    assert len(memory) == sum((n + 1) // 2 for n in lengths)
    assert torch.allclose(memory.z[5], model.encode(fifth)[0], atol=1e-5)  # the node's frame
    assert memory.step_z > 0 and memory.step_p > 0
    assert memory.graph.shape == (len(memory), len(memory))
    assert (memory.graph != memory.graph.T).nnz == 0  # both ways


def _wall_experience(episodes: int, seed: int) -> ShortTermMemory:
    """Episodes of a teacher in the :class:`Wall` world that crosses through the gap: from
    one side to a goal on the other, steps of at most 1, the cost of time recorded."""
    gen = torch.Generator().manual_seed(seed)
    mem = ShortTermMemory(100_000)
    for _ in range(episodes):
        side, x0, y0, x1, y1 = torch.rand(5, generator=gen).tolist()
        side = 1.0 if side < 0.5 else -1.0
        start = torch.tensor([-side * (0.5 + 2.5 * x0), 6 * y0 - 3])
        goal = torch.tensor([side * (0.5 + 2.5 * x1), 6 * y1 - 3])
        waypoints = [torch.tensor([-side * 0.3, 0.0]), torch.tensor([side * 0.3, 0.0]), goal]
        states, actions = [start], []
        for point in waypoints:
            while (states[-1] - point).norm() > 1e-4 and len(actions) < 40:
                step = point - states[-1]
                actions.append(step / step.norm().clamp(min=1.0))
                states.append(Wall().rollout(states[-1][None], actions[-1][None, None])[0, -1])
        cost = torch.full((len(actions),), STEP_COST)
        mem.add_episode(torch.stack(states), torch.stack(actions), cost, goal, terminated=True)
    return mem


def test_a_critic_of_the_cost_of_time_leads_a_short_horizon_through_the_gap():
    # Learned from experience, not written by hand: the time still to spend, by TD with
    # hindsight goals, must rank the far side of the wall behind the way through the gap.
    torch.manual_seed(0)
    critic = Critic(2, hidden=64, gamma=0.9)
    train_critic(critic, _wall_experience(300, 0), steps=3000, batch=256, lr=3e-3, tau=0.02,
                 progress=False)  # fmt: skip
    with torch.no_grad():
        goal = torch.tensor([[2.0, 3.0]])
        across, via_gap = critic(torch.tensor([[-0.5, 3.0], [0.3, 0.0]]), goal.expand(2, 2))
    assert across > via_gap  # beside the goal, but on the wrong side of the wall
    # within a step of the goal (the goal-distance energy stays pressed into the wall, > 3)
    assert float(_drive(GoalEnergy(0.0, 0.0, critic=critic, critic_weight=1.0), 20)) < 1.0


def test_goal_energy_adds_the_weighted_critic_at_the_horizon_end():
    critic = DetourCritic()
    pred, goal = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]]), torch.tensor([[1.0, 0.0]])
    energy = GoalEnergy(1.0, 0.0, critic=critic, critic_weight=2.0)
    torch.testing.assert_close(energy(pred, goal), torch.tensor([4.0 + 2.0 * 2.0]))


def test_mode1_imitates_a_known_controller_and_stays_in_bounds():
    torch.manual_seed(0)
    bounds = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)
    mem = ShortTermMemory(10_000)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):  # the teacher: a proportional controller towards the goal
        goal = torch.rand(2, generator=gen) * 4 - 2
        states = torch.rand(11, 2, generator=gen) * 4 - 2
        actions = bounds.project(0.5 * (goal - states[:-1]))
        mem.add_episode(states, actions, torch.zeros(10), goal)
    policy = Mode1Policy(2, bounds, hidden=64, members=3)
    distill(policy, mem, steps=1500, batch=128, lr=3e-3, progress=False)
    s, g = torch.rand(256, 2) * 4 - 2, torch.rand(256, 2) * 4 - 2
    with torch.no_grad():
        action, spread = policy(s, g)
    assert bounds.contains(action)
    assert float((action - bounds.project(0.5 * (g - s))).norm(dim=-1).mean()) < 0.1
    assert spread.shape == (256,) and bool((spread >= 0).all())


def _agent(mode: str, max_spread: float = 0.25) -> tuple[Agent, np.ndarray, np.ndarray]:
    from jepalab.envs import make_env

    env = make_env("two-rooms")
    cfg = RunConfig()
    cfg.planner.samples, cfg.planner.elites, cfg.planner.horizon = 16, 4, 6
    cfg.agent.mode, cfg.agent.max_spread = mode, max_spread
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    policy = Mode1Policy(8, ActionBounds.from_space(env.action_space, max_norm=2.45))
    start, goal = env.reset_task(0)
    return Agent.for_env(model, cfg, env, policy=policy), start, goal


def test_the_agent_logs_which_mode_acted():
    agent, start, goal = _agent("mode1")
    agent.set_goal(goal)
    for _ in range(6):
        assert np.linalg.norm(agent.act(start)) <= 2.45 + 1e-5
    assert agent.mode_counts == {"mode1": 3, "mode2": 0} and not agent.latencies_ms
    agent, start, goal = _agent("auto", max_spread=-1.0)  # always unsure: always Mode-2
    agent.set_goal(np.stack([goal, goal]))
    for _ in range(4):
        agent.act(np.stack([start, start]))
    assert agent.mode_counts == {"mode1": 0, "mode2": 4} and len(agent.latencies_ms) == 2


def _cxx() -> bool:
    import shutil

    return any(shutil.which(c) for c in ("g++", "clang++", "c++"))


def _compiled(agent: Agent) -> Agent:
    """The same agent (model, policy, bounds) with ``agent.compile``."""
    cfg = copy.deepcopy(agent.cfg)
    cfg.agent.compile = True
    return Agent(agent.model, cfg, agent.mpc.planner.bounds, policy=agent.policy)


@pytest.mark.skipif(not _cxx(), reason="torch.compile (inductor) needs a C++ compiler")
def test_compiled_mode1_decides_as_the_uncompiled_one():
    eager, start, goal = _agent("mode1")
    compiled = _compiled(eager)
    for envs in (1, 3):
        obs, goals = np.stack([start] * envs), np.stack([goal] * envs)
        eager.set_goal(goals)
        compiled.set_goal(goals)
        np.testing.assert_allclose(compiled.act(obs), eager.act(obs), atol=1e-5)
    assert compiled.mode_counts == eager.mode_counts == {"mode1": 4, "mode2": 0}
    assert _compiled(eager).react is compiled.react  # built once per model, policy, weights
    with pytest.raises(JepalabError, match="compiled Mode-1 takes uint8 images"):
        compiled.react(torch.zeros(1, 64, 64, 3, dtype=torch.uint8), compiled.z_goal[:1])
    with torch.no_grad():
        eager.policy.net.layers[-1].bias.add_(0.5)  # new weights: built anew, never stale
    fresh = _compiled(eager)
    assert fresh.react is not compiled.react
    for agent in (eager, fresh):
        agent.set_goal(goal)
    np.testing.assert_allclose(fresh.act(start), eager.act(start), atol=1e-5)


def test_compiling_mode1_without_a_compiler_says_so(monkeypatch):
    import torch._inductor.config

    agent, _, _ = _agent("mode1")
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("no-such-c++",))
    with pytest.raises(JepalabError, match="could not build Mode-1"):
        _compiled(agent)


def test_latencies_are_taken_in_turns_after_a_warm_up():
    from jepalab.eval.evaluate import interleaved_latency

    mode1, _, _ = _agent("mode1")
    mode2, _, _ = _agent("mode2")
    times = interleaved_latency(mode1.model, mode1.cfg, {"m1": mode1, "m2": mode2}, 15, turn=4)
    assert {k: len(v) for k, v in times.items()} == {"m1": 15, "m2": 15}
    # 20 warm-up decisions, then 4 turns of 4 (1 to spare): every decision went to one agent
    assert mode1.mode_counts == {"mode1": 36, "mode2": 0}
    assert mode2.mode_counts == {"mode1": 0, "mode2": 36}
    assert all(t > 0 for v in times.values() for t in v)


def test_mode1_and_bad_modes_are_refused_without_a_policy():
    from jepalab.envs import make_env

    env = make_env("two-rooms")
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    cfg = RunConfig()
    cfg.agent.mode = "mode1"
    with pytest.raises(JepalabError, match="needs a Mode-1 policy"):
        Agent.for_env(model, cfg, env)
    cfg.agent.mode = "reflex"
    with pytest.raises(JepalabError, match="must be one of"):
        Agent.for_env(model, cfg, env)
    cfg.agent.mode, cfg.agent.patience = "auto", 0
    with pytest.raises(JepalabError, match="patience must be at least 1"):
        Agent.for_env(model, cfg, env)
    bounds = ActionBounds.from_space(env.action_space)
    for members, hidden in ((0, 128), (5, 0)):
        with pytest.raises(JepalabError, match="at least one member and a positive width"):
            Mode1Policy(8, bounds, hidden, members)


def test_critic_and_policy_round_trip_through_safetensors(tmp_path):
    from jepalab.actor import load_policy, save_policy
    from jepalab.cost import load_critic, save_critic
    from jepalab.errors import CheckpointError

    critic, policy = Critic(4, hidden=8), Mode1Policy(4, ActionBounds((-1.0,), (2.0,), 1.5), 8)
    save_critic(critic, tmp_path / "critic.safetensors")
    save_policy(policy, tmp_path / "mode1.safetensors")
    s, g = torch.randn(3, 4), torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(load_critic(tmp_path / "critic.safetensors")(s, g), critic(s, g))
        loaded = load_policy(tmp_path / "mode1.safetensors")
        torch.testing.assert_close(loaded(s, g)[0], policy(s, g)[0])
    assert loaded.bounds == policy.bounds
    with pytest.raises(CheckpointError, match="not a 'critic'"):
        load_critic(tmp_path / "mode1.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(tmp_path / "bad.safetensors")


def test_episodes_enter_the_memory_at_the_world_model_step():
    from jepalab.eval.evaluate import run_episodes

    cfg = RunConfig()
    cfg.planner.samples, cfg.planner.elites, cfg.planner.horizon = 8, 2, 2
    cfg.planner.iterations, cfg.planner.action_repeat = 1, 1
    model = WorldModel((65, 65, 3), action_dim=2, embed_dim=8, channels=(4,))
    mem = ShortTermMemory(10_000)
    ran = run_episodes(model, cfg, [5, 6], memory=mem)
    success, steps = ran.success, ran.steps
    assert mem.episodes == 2
    b = mem.sample(500, torch.Generator().manual_seed(0))
    assert bool((b.cost == STEP_COST).all())  # the cost of time, whatever the goal
    assert len(mem) == sum(-(-n // cfg.model.frame_skip) for n in steps)  # ceil(n / skip)
    assert bool(b.done.any()) == any(success)
    assert bool((b.action.norm(dim=-1) <= 2.45 + 1e-5).all())


def _wall_memory(**settings: float) -> EpisodicMemory:
    """One remembered episode in the wall world: from the start down to the gap and up the
    other side to the goal, a node every step; its pictures are its places."""
    down = [(-2.0, 3.0 - 0.5 * k) for k in range(7)]  # to (-2, 0)
    across = [(-1.5 + 0.5 * k, 0.0) for k in range(8)]  # to (2, 0)
    up = [(2.0, 0.5 + 0.5 * k) for k in range(6)]  # to (2, 3)
    z = torch.tensor(down + across + up)
    return EpisodicMemory(z, z, np.zeros(len(z)), 0.25, 0.25, 1, picture=lambda x: x, **settings)


def test_a_route_through_the_memory_leads_a_short_horizon_through_the_gap():
    # Straight at the goal the point presses into the wall; along the remembered episode it
    # aims a few steps ahead each decision and goes round through the gap.
    routes = Routes(_wall_memory(), look=3.0)
    bounds = ActionBounds((-1.0, -1.0), (1.0, 1.0), max_norm=1.0)
    config = PlannerConfig(horizon=2, action_repeat=1, samples=128, elites=16, iterations=4)
    mpc = MPC(make_planner(Wall(), GoalEnergy(1.0, 0.0), bounds, config))
    z, goal = torch.tensor([[-2.0, 3.0]]), torch.tensor([[2.0, 3.0]])
    mpc.reset(1)
    routes.reset(goal, goal)
    for _ in range(30):
        z = Wall().rollout(z, mpc.act(z, routes.goals(z, z))[:, None])[:, -1]
    assert float((z - goal).norm()) < 0.5
    assert routes.guided.tolist()[0] > 3


def test_memory_joins_look_alikes_only_where_their_pictures_agree():
    # Two episodes whose embeddings coincide: joined where the pictures are alike too.
    z = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 0.0], [3.0, 0.0]])
    episode = np.array([0, 0, 1, 1])
    alike = EpisodicMemory(z, z.clone(), episode, 1.0, 1.0, 3)
    unlike = EpisodicMemory(
        z, z + torch.tensor([0.0, 5.0]) * torch.tensor([[0], [0], [1], [1]]), episode, 1.0, 1.0, 3
    )
    assert alike.graph[0, 2] > 0 and unlike.graph[0, 2] == 0
    assert unlike.graph[0, 1] == unlike.graph[2, 3] == 3.0  # time edges, 3 steps
    length, toward = unlike.routes_to(3)
    assert np.isinf(length[0]) and length[2] == 3.0 and toward[2] == 3
    assert unlike.locate(torch.tensor([[2.9, 0.0]]), torch.tensor([[3.0, 5.0]])).tolist() == [3]


def test_bad_memory_and_route_settings_are_refused():
    with pytest.raises(DataError, match="episodic memory"):
        EpisodicMemory(torch.zeros(3, 2), torch.zeros(2, 2), np.zeros(3), 1.0, 1.0, 1)
    with pytest.raises(ConfigError, match="look-ahead"):
        Routes(_wall_memory(), look=0.0)
    with pytest.raises(ConfigError, match=r"agent\.route_picture_radius"):
        check_route_config(AgentConfig(route_every=3, route_picture_radius=0.0))

"""Goal-reaching evaluation: the agent plans in latent space to reach a goal image.

Episodes come from a fixed, seeded set (layout, start, goal) whose seeds no training
episode used. Environments are stepped in batches and all of them are planned for in
one batched call per step. Replanning latency is measured separately on a single
environment, the figure a robot with one body cares about.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..actor.policy import Mode1Policy
from ..agent import Agent, bounds_for
from ..config import RunConfig
from ..configurator import Configurator, HierarchicalAgent
from ..configurator.detour import Detours
from ..configurator.routes import Routes
from ..cost import STEP_COST, Critic, HazardProbe
from ..envs import env_from_config
from ..errors import JepalabError
from ..io import atomic_write_text
from ..memory import ShortTermMemory
from ..safety import SafetyGate
from ..world_model import WorldModel
from ..world_model.high_level import HighLevelModel
from ..world_model.predictor_ensemble import PredictorEnsemble
from .plots import episode_frame, write_gif
from .stats import percentiles, wilson_interval


@dataclass
class EvalResult:
    success_rate: float
    episodes: int
    successes: int
    ci95: tuple[float, float]
    mean_final_distance: float
    mean_steps_success: float
    replan_ms_median: float
    replan_ms_p95: float
    eval_seconds: float
    abstain_rate: float = 0.0  # episodes in which the agent declined to act (safety gate)
    hazard_rate: float = 0.0  # episodes that entered a forbidden region (Hazard Rooms)
    gifs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_disjoint_seeds(cfg: RunConfig, train_seed_range: tuple[int, int] | None) -> None:
    lo, hi = cfg.eval.seed, cfg.eval.seed + cfg.eval.episodes
    if train_seed_range is not None and lo < train_seed_range[1] and train_seed_range[0] < hi:
        raise JepalabError(
            f"evaluation seeds [{lo}, {hi}) overlap the training data's seeds "
            f"[{train_seed_range[0]}, {train_seed_range[1]}); set --eval.seed elsewhere"
        )


@dataclass
class Episodes:
    """What became of a batch of episodes, one entry per episode."""

    success: list[bool]
    distance: list[float]  # final distance to the goal
    steps: list[int]
    frames: list[list[np.ndarray]]  # of the first ``record`` episodes
    abstained: list[str | None]  # why the agent stopped acting, if it did
    hazard: list[bool]  # entered a forbidden region (worlds that have them)


def random_policy_success(cfg: RunConfig) -> float:
    """Success rate of uniformly random actions (the action space's ``sample()``, seeded per
    task) on the evaluation tasks: the floor a planner has to clear to mean anything."""
    hits = []
    env = env_from_config(cfg.env)
    for seed in range(cfg.eval.seed, cfg.eval.seed + cfg.eval.episodes):
        env.reset_task(seed)
        env.action_space.seed(seed)
        for _ in range(env.max_episode_steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                break
        hits.append(bool(env.is_success()))
    env.close()
    return float(np.mean(hits))


@torch.no_grad()
def run_episodes(
    model: WorldModel,
    cfg: RunConfig,
    seeds: list[int],
    record: int = 0,
    agent: Agent | HierarchicalAgent | None = None,
    memory: ShortTermMemory | None = None,
) -> Episodes:
    """Run one batch of episodes side by side, the frames of the first ``record`` kept.

    ``agent`` defaults to a planning agent built from ``cfg``. An episode ends at the goal,
    at the step limit, in a forbidden region, or when the agent abstains (it has said it
    will not act: waiting out the step limit would change nothing). With a ``memory``,
    every episode is stored in it at the world model's time step (every ``frame_skip``
    environment steps): the embeddings, the actions taken and their cost of time
    (:data:`~jepalab.cost.STEP_COST` each, what the critic learns to predict).
    """
    envs = [env_from_config(cfg.env) for _ in seeds]
    starts, goals = zip(
        *(env.reset_task(s) for env, s in zip(envs, seeds, strict=True)), strict=True
    )
    obs = np.stack(starts)
    agent = agent or Agent.for_env(model, cfg, envs[0])
    agent.set_goal(np.stack(goals))
    trace = _Trace(model, agent.z_goal, len(envs)) if memory is not None else None
    done = np.zeros(len(envs), bool)
    steps = np.zeros(len(envs), int)
    abstained: list[str | None] = [None] * len(envs)
    frames = [[episode_frame(starts[i], goals[i])] for i in range(min(record, len(envs)))]
    live = np.arange(len(envs))  # episodes still running; the agent plans for these only
    for _ in range(envs[0].max_episode_steps):
        decided = agent.decisions
        actions = agent.act(obs[live])
        if trace is not None and agent.decisions > decided:
            trace.observe(live, agent.embedding, actions)
        for k, (i, action) in enumerate(zip(live, actions, strict=True)):
            if agent.abstained[k] is not None:
                abstained[i], done[i] = agent.abstained[k], True
                continue
            o, _, terminated, truncated, _ = envs[i].step(action)
            obs[i], steps[i] = o, steps[i] + 1
            done[i] = terminated or truncated
            if i < len(frames):
                frames[i].append(episode_frame(o, goals[i]))
        if done.all():
            break
        if done[live].any():
            agent.keep(~done[live])
            live = live[~done[live]]
    success = [bool(env.is_success()) for env in envs]
    if trace is not None:
        trace.store(memory, obs, success)
    return Episodes(
        success=success,
        distance=[float(env.goal_distance()) for env in envs],
        steps=steps.tolist(),
        frames=frames,
        abstained=abstained,
        hazard=[bool(getattr(env, "in_hazard", False)) for env in envs],
    )


class _Trace:
    """Per-episode embeddings and actions at world-model steps, for the short-term memory."""

    def __init__(self, model: WorldModel, z_goal: torch.Tensor, num_envs: int) -> None:
        self.model, self.z_goal = model, z_goal.clone()
        self.states: list[list[torch.Tensor]] = [[] for _ in range(num_envs)]
        self.actions: list[list[torch.Tensor]] = [[] for _ in range(num_envs)]

    def observe(self, envs: np.ndarray, z: torch.Tensor, actions: np.ndarray) -> None:
        """Record the agent's ``(E, D)`` embeddings of the live ``envs`` and its actions."""
        for k, i in enumerate(envs):
            self.states[i].append(z[k])
            self.actions[i].append(torch.as_tensor(actions[k]).float())

    def store(self, memory: ShortTermMemory, final_obs: np.ndarray, success: list[bool]) -> None:
        """Close every episode with its final observation; reached goals are terminal."""
        z_final = self.model.encode(torch.from_numpy(final_obs))
        for i, ok in enumerate(success):
            states = torch.stack([*self.states[i], z_final[i]])
            cost = torch.full((len(states) - 1,), STEP_COST)
            memory.add_episode(states, torch.stack(self.actions[i]), cost, self.z_goal[i], ok)


LATENCY_WARMUP = 20
"""Decisions :func:`replan_latency` makes before it starts timing."""


@torch.no_grad()
def replan_latency(
    model: WorldModel,
    cfg: RunConfig,
    replans: int,
    agent: Agent | HierarchicalAgent | None = None,
    warmup: int = LATENCY_WARMUP,
) -> list[float]:
    """Wall-clock milliseconds of each decision step (observation in, action out) for one
    environment, of ``agent``, by default a planning agent built from ``cfg``.

    The first ``warmup`` decisions are not kept: a process's first decisions at one
    environment take up to 3x longer (first allocations at that size, compilation with
    ``agent.compile``), which in 50 decisions of Mode-1 moved the median 0.34 -> 0.6 ms."""
    env = env_from_config(cfg.env)
    agent = agent or Agent.for_env(model, cfg, env)
    times: list[float] = []
    seed = cfg.eval.seed
    replans += warmup
    while len(times) < replans:
        obs, goal = env.reset_task(seed)
        seed += 1
        agent.set_goal(goal)
        done = False
        while not done and len(times) < replans:
            decided = agent.decisions
            t0 = time.perf_counter()  # observation in, action out: encode + decide
            action = agent.act(obs)
            if agent.decisions > decided:  # not a step that holds the last action
                times.append((time.perf_counter() - t0) * 1e3)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return times[warmup:]


def interleaved_latency(
    model: WorldModel,
    cfg: RunConfig,
    agents: dict[str, Agent | HierarchicalAgent],
    replans: int,
    turn: int = 10,
) -> dict[str, list[float]]:
    """:func:`replan_latency` of several agents, ``replans`` decisions each, taken in turns
    of ``turn`` decisions (each turn on tasks of its own), so that a machine that slows
    down for a while slows them all alike: on a shared 2-core machine the median of one
    agent's separate runs moved up to 2x within a minute, and ratios of such runs with it."""
    times: dict[str, list[float]] = {name: [] for name in agents}
    for k in range(math.ceil(replans / turn)):
        c = copy.deepcopy(cfg)
        c.eval.seed = cfg.eval.seed + 1000 * k
        for name, agent in agents.items():
            times[name] += replan_latency(model, c, turn, agent, LATENCY_WARMUP if k == 0 else 0)
    return {name: t[:replans] for name, t in times.items()}


@dataclass
class Learned:
    """The trained modules an agent may use besides its world model, each optional: the
    ``critic`` (terminal cost), Mode-1 ``policy``, ``high`` level (subgoals), safety
    ``gate``, ``hazard`` probe, predictor ``ensemble`` (risk-averse planning with
    ``planner.risk``), ``detours`` (from rest off the goal, try again from elsewhere) and
    ``routes`` (aim along the way the episodic memory knows to the goal)."""

    critic: Critic | None = None
    policy: Mode1Policy | None = None
    high: HighLevelModel | None = None
    gate: SafetyGate | None = None
    hazard: HazardProbe | None = None
    ensemble: PredictorEnsemble | None = None
    detours: Detours | None = None
    routes: Routes | None = None


def with_memory_modules(
    model: WorldModel, cfg: RunConfig, learned: Learned | None = None, progress: bool = True
) -> Learned:
    """``learned`` (default: none) with the modules the run's dataset gives, where ``cfg``
    asks for them and none is given: detours banked from it (``agent.detour_patience``)
    and the routes' episodic memory built from it (``agent.route_every``; minutes on a
    large dataset)."""
    learned = learned or Learned()
    if cfg.agent.detour_patience and learned.detours is None:
        detours = Detours.from_dataset(model, cfg.data_path, cfg.agent, cfg.train.seed)
        learned = dataclasses.replace(learned, detours=detours)
    if cfg.agent.route_every and learned.routes is None:
        routes = Routes.from_dataset(
            model, cfg.data_path, cfg.agent, cfg.model.frames, cfg.train.seed, progress
        )
        learned = dataclasses.replace(learned, routes=routes)
    return learned


def make_agent(
    model: WorldModel, cfg: RunConfig, learned: Learned | None = None
) -> Agent | HierarchicalAgent:
    """The agent ``cfg`` describes, with the ``learned`` modules: with a high level the
    two-level agent (its low level plans, with the critic and hazard probe if given; it
    takes no Mode-1 policy, safety gate, ensemble, detours or routes yet), else
    :class:`Agent`."""
    m = learned or Learned()
    bounds = bounds_for(env_from_config(cfg.env))
    if m.high is None:
        return Agent(
            model,
            cfg,
            bounds,
            m.critic,
            m.policy,
            m.gate,
            m.hazard,
            m.ensemble,
            m.detours,
            m.routes,
        )
    if m.policy is not None:
        raise JepalabError("the hierarchical agent's low level plans (Mode-2): no Mode-1 policy")
    if any(x is not None for x in (m.gate, m.ensemble, m.detours, m.routes)):
        raise JepalabError(
            "the hierarchical agent takes no safety gate, ensemble, detours or routes yet"
        )
    return HierarchicalAgent(Configurator(model, m.high, cfg, bounds, m.critic, m.hazard))


def evaluate(
    model: WorldModel,
    cfg: RunConfig,
    out_dir: str | Path | None = None,
    train_seed_range: tuple[int, int] | None = None,
    progress: bool = True,
    learned: Learned | None = None,
) -> EvalResult:
    """Goal-reaching success over ``cfg.eval.episodes`` seeded episodes, with GIFs and the
    decision latency, of the agent :func:`make_agent` builds with the ``learned`` modules."""
    check_disjoint_seeds(cfg, train_seed_range)
    model.eval()
    e = cfg.eval
    seeds = list(range(e.seed, e.seed + e.episodes))
    t0 = time.perf_counter()
    success: list[bool] = []
    dists: list[float] = []
    steps: list[int] = []
    reasons: list[str | None] = []  # why the agent stopped acting, per episode
    burned: list[bool] = []
    gifs: list[str] = []
    out = Path(out_dir) if out_dir is not None else None
    bar = tqdm(total=len(seeds), desc="evaluate", disable=not progress)
    for b in range(0, len(seeds), e.batch_envs):
        batch = seeds[b : b + e.batch_envs]
        record = max(0, e.gifs - b) if out is not None else 0
        agent = make_agent(model, cfg, learned)
        ran = run_episodes(model, cfg, batch, record, agent)
        success += ran.success
        dists += ran.distance
        steps += ran.steps
        reasons += ran.abstained
        burned += ran.hazard
        for i, fr in enumerate(ran.frames):
            gifs.append(str(write_gif(fr, out / f"episode_{b + i:03d}.gif")))
        bar.update(len(batch))
        bar.set_postfix(success=f"{np.mean(success):.3f}")
    bar.close()
    seconds = time.perf_counter() - t0
    agent = make_agent(model, cfg, learned)
    lat_med, lat_p95 = percentiles(replan_latency(model, cfg, e.latency_replans, agent))
    k = int(sum(success))
    ok_steps = [n for n, s in zip(steps, success, strict=True) if s]
    result = EvalResult(
        success_rate=k / len(success),
        episodes=len(success),
        successes=k,
        ci95=wilson_interval(k, len(success)),
        mean_final_distance=float(np.mean(dists)),
        mean_steps_success=float(np.mean(ok_steps)) if ok_steps else float("nan"),
        replan_ms_median=lat_med,
        replan_ms_p95=lat_p95,
        eval_seconds=seconds,
        abstain_rate=float(np.mean([r is not None for r in reasons])),
        hazard_rate=float(np.mean(burned)),
        gifs=gifs,
    )
    if out is not None:
        atomic_write_text(out / "metrics.json", json.dumps(result.to_dict(), indent=2))
        # Each task's outcome, so that two agents can be compared task by task.
        table = io.StringIO()
        rows = csv.writer(table, lineterminator="\n")
        rows.writerow(["seed", "success", "final_distance", "steps", "abstained", "hazard"])
        for seed, ok, dist, n, why, hazard in zip(
            seeds, success, dists, steps, reasons, burned, strict=True
        ):
            rows.writerow([seed, int(ok), f"{dist:.5f}", n, why or "", int(hazard)])
        atomic_write_text(out / "episodes.csv", table.getvalue())
    return result

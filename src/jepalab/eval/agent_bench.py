"""``jepalab bench agent``: the whole agent on Two-Rooms, learning from its own experience.

1. A world model (trained with the Two-Rooms benchmark recipe, or ``--checkpoint``), and
   its safety gate fitted to its training data (:mod:`jepalab.safety`).
2. Mode-2 (the full-horizon planner) acts in ``agent.memory_episodes`` episodes whose seeds
   neither training nor evaluation uses; the short-term memory stores them, and the gate,
   watching without abstaining, calibrates its novelty and surprise thresholds on them.
3. The critic learns the cost to come from that memory (TD, hindsight goals); Mode-1 is
   distilled from the actions Mode-2 chose there.
4. On the same ``eval.episodes`` held-out episodes, it measures:
   - ``critic``: the full-horizon planner without critic against a planner with a 4x
     shorter horizon and the critic as terminal cost (success, and the speedup of a
     decision, the two planners timed in turns);
   - ``mode1``: the default agent (Mode-1 first, Mode-2 where Mode-1 is unsure or stuck)
     against Mode-2 alone; Mode-1 alone; the decision latency of each mode, measured in
     turns (Mode-1 compiled ahead of time with ``--agent.compile true``, and uncompiled);
   - ``risk``: the full-horizon planner made risk-averse by a predictor ensemble trained on
     the world model's data (``agent.risk`` times the ensemble's spread along a plan);
   - ``abstain``: how often the gated planning agent abstains on them, and on the same
     tasks in each shifted Two-Rooms it never saw (two doors, thick border, inverted);
5. ``hazard``: a second world model, of Hazard Rooms (trained with the same recipe, or
   ``--hazard-checkpoint``), a hazard probe and a high level learned from its data, and on
   held-out Hazard Rooms tasks the two-level agent (subgoals; the low level plans with the
   hazard cost) and the flat planner, each with and without the hazard cost: success, and
   the fraction of episodes that entered a hot cell.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..actor.policy import Mode1Policy, distill, save_policy
from ..agent import Agent, bounds_for
from ..config import RunConfig, save_config
from ..configurator import Configurator, HierarchicalAgent
from ..cost import (
    Critic,
    HazardProbe,
    save_critic,
    save_hazard_probe,
    train_critic,
    train_hazard_probe,
)
from ..data import EpisodeDataset
from ..envs import env_from_config
from ..envs.hazard_rooms import hazard_distance
from ..envs.shifted_rooms import SHIFTS
from ..errors import JepalabError
from ..memory import ShortTermMemory
from ..safety import SafetyGate
from ..training.high_level import encode_states, fit_high_level, save_high_level
from ..world_model import WorldModel
from ..world_model.predictor_ensemble import (
    PredictorEnsemble,
    save_predictor_ensemble,
    train_predictor_ensemble,
)
from .evaluate import Episodes, Learned, interleaved_latency, replan_latency, run_episodes
from .evaluate import make_agent as default_agent
from .stats import percentiles, wilson_interval

EXPERIENCE_SEED = 3_000_000
"""Seeds of the experience episodes: disjoint from training data (0+) and evaluation (1e6+)."""


# Mode-1 against Mode-2: decisions timed per mode, in turns of LATENCY_TURN. A turn's first
# Mode-1 decisions pay for following Mode-2: 0.45-0.6 ms, ~0.2 ms by the sixth (not the
# OpenMP threads' spinning: the same with OMP_WAIT_POLICY=passive); the JSON records the
# first one's median.
LATENCY_DECISIONS = 300
LATENCY_TURN = 30


def short_horizon(cfg: RunConfig) -> RunConfig:
    """The planner with a 4x shorter horizon that leans on the critic: the critic alone
    scores where a plan ends (goal-distance terms pull into walls: 0.78 with them), one
    decision per step, one CEM iteration of half the samples (chosen on validation seeds
    2,000,000+: 0.945 with 1 or 2 iterations)."""
    short = copy.deepcopy(cfg)
    short.planner.horizon = max(1, cfg.planner.horizon // 4)
    short.planner.action_repeat = 1
    short.planner.iterations = 1
    short.planner.samples = max(2, cfg.planner.samples // 2)
    short.planner.elites = max(1, cfg.planner.elites // 2)
    short.cost.terminal_weight = short.cost.running_weight = 0.0
    short.cost.critic_weight = 1.0
    return short


def gather_experience(
    model: WorldModel,
    cfg: RunConfig,
    episodes: int,
    progress: bool = True,
    gate: SafetyGate | None = None,
) -> tuple[ShortTermMemory, float, tuple[torch.Tensor, torch.Tensor]]:
    """Mode-2 episodes into a fresh short-term memory; returns it, their success rate and
    the peak novelty and surprise a ``gate`` (never abstaining here) saw in each (empty
    without)."""
    memory = ShortTermMemory(capacity=max(50_000, episodes * 200))
    seeds = list(range(EXPERIENCE_SEED, EXPERIENCE_SEED + episodes))
    watch = None
    if gate is not None:  # it only watches: it must not cut the experience short
        watch = dataclasses.replace(gate, novelty_threshold=math.inf, surprise_threshold=math.inf)
    bounds = bounds_for(env_from_config(cfg.env))
    ok: list[bool] = []
    novelty: list[torch.Tensor] = []
    surprise: list[torch.Tensor] = []
    for b in tqdm(range(0, episodes, cfg.eval.batch_envs), desc="experience", disable=not progress):
        agent = Agent(model, cfg, bounds, gate=watch)
        batch = seeds[b : b + cfg.eval.batch_envs]
        ok += run_episodes(model, cfg, batch, agent=agent, memory=memory).success
        if gate is not None:
            novelty.append(agent.peak_novelty)
            surprise.append(agent.peak_surprise)
    peaks = (torch.cat(novelty), torch.cat(surprise)) if gate else (torch.zeros(0),) * 2
    return memory, float(np.mean(ok)), peaks


def measure(
    model: WorldModel,
    cfg: RunConfig,
    critic: Critic | None = None,
    policy: Mode1Policy | None = None,
    progress: bool = True,
    desc: str = "",
    make_agent: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Success over the evaluation episodes and the single-environment decision latency,
    of the agent ``make_agent()`` builds (default: an :class:`Agent` from ``cfg``)."""
    make_agent = make_agent or (lambda: default_agent(model, cfg, Learned(critic, policy)))
    ran, counts = eval_episodes(model, cfg, make_agent, progress, desc)
    ok, steps = ran.success, ran.steps
    latencies = replan_latency(model, cfg, cfg.eval.latency_replans, make_agent())
    median, p95 = percentiles(latencies)
    k = int(sum(ok))
    ok_steps = [n for n, s in zip(steps, ok, strict=True) if s]
    return {
        "success": k / len(ok),
        "ci95": wilson_interval(k, len(ok)),
        "episodes": len(ok),
        "mean_steps": float(np.mean(steps)),
        "mean_steps_success": float(np.mean(ok_steps)) if ok_steps else float("nan"),
        "decision_ms_median": median,
        "decision_ms_p95": p95,
        "decision_ms_mean": float(np.mean(latencies)),
        "mode1_fraction": counts["mode1"] / max(1, sum(counts.values())),
        "abstain_rate": float(np.mean([r is not None for r in ran.abstained])),
        "hazard_rate": float(np.mean(ran.hazard)),
    }


def eval_episodes(
    model: WorldModel,
    cfg: RunConfig,
    make_agent: Callable[[], Any],
    progress: bool = True,
    desc: str = "",
) -> tuple[Episodes, dict[str, int]]:
    """The ``cfg.eval`` episodes, in batches, each batch with a fresh ``make_agent()``;
    returns what became of them and how many decisions each mode made."""
    e = cfg.eval
    seeds = list(range(e.seed, e.seed + e.episodes))
    ran = Episodes([], [], [], [], [], [])
    counts = {"mode1": 0, "mode2": 0}
    for b in tqdm(range(0, len(seeds), e.batch_envs), desc=desc, disable=not progress):
        agent = make_agent()
        batch = run_episodes(model, cfg, seeds[b : b + e.batch_envs], agent=agent)
        for f in dataclasses.fields(Episodes):
            getattr(ran, f.name).extend(getattr(batch, f.name))
        counts = {k: v + agent.mode_counts[k] for k, v in counts.items()}
    return ran, counts


def run_bench(
    cfg: RunConfig,
    checkpoint: str | None = None,
    hazard_checkpoint: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The ``bench agent`` figures (see the module docstring); artifacts go to cfg.out_dir
    (the Hazard Rooms run to its ``hazard`` subfolder)."""
    from ..pipeline import machine, world_model

    out = Path(cfg.out_dir)
    t0 = time.perf_counter()
    model, cfg, train_seconds = world_model(cfg, checkpoint, progress)
    cfg.out_dir = str(out)
    save_config(cfg, out / "config.yaml")
    a = cfg.agent

    gate = SafetyGate.fit(
        model, cfg.data_path, cfg.model.frame_skip, cfg.data.val_fraction, cfg.data.seed,
        progress=progress,
    )  # fmt: skip
    t = time.perf_counter()
    memory, experience_success, (novelty, surprise) = gather_experience(
        model, cfg, a.memory_episodes, progress, gate
    )
    experience_seconds = time.perf_counter() - t
    gate.calibrate_novelty(novelty)
    gate.calibrate_surprise(surprise)
    gate.save(out / "gate.safetensors")
    t = time.perf_counter()
    ensemble = PredictorEnsemble(model)
    train_predictor_ensemble(
        ensemble, cfg.data_path, cfg.model.frame_skip, cfg.data.val_fraction, cfg.data.seed,
        a.ensemble_steps, progress=progress,
    )  # fmt: skip
    ensemble_seconds = time.perf_counter() - t
    save_predictor_ensemble(ensemble, out / "ensemble.safetensors")

    learned = critic_and_mode1(model, cfg, memory, out, progress)
    figures = {
        "benchmark": "agent",
        **learned,
        "risk": risk_averse(model, cfg, ensemble, learned["critic"]["full"], progress),
        "abstain": abstain(model, cfg, gate, progress),
        "hazard": hazard(cfg, hazard_checkpoint, out / "hazard", progress),
        "experience": {
            "episodes": a.memory_episodes,
            "transitions": len(memory),
            "mode2_success": experience_success,
            "seconds": experience_seconds,
        },
        "train_seconds": train_seconds,
        "ensemble_seconds": ensemble_seconds,
        "seconds": time.perf_counter() - t0,
        "machine": machine(),
    }
    return figures


def critic_and_mode1(
    model: WorldModel, cfg: RunConfig, memory: ShortTermMemory, out: Path, progress: bool
) -> dict[str, Any]:
    """The ``critic`` and ``mode1`` figures: both learn from ``memory``, then compete."""
    a = cfg.agent
    t = time.perf_counter()
    torch.manual_seed(cfg.train.seed)
    critic = Critic(model.embed_dim)
    critic_loss = train_critic(critic, memory, steps=a.critic_steps, progress=progress)
    critic_seconds = time.perf_counter() - t
    env = env_from_config(cfg.env)
    t = time.perf_counter()
    policy = Mode1Policy(model.embed_dim, bounds_for(env), hidden=a.mode1_hidden)
    mode1_loss = distill(policy, memory, steps=a.mode1_steps, progress=progress)
    mode1_seconds = time.perf_counter() - t
    save_critic(critic, out / "critic.safetensors")
    save_policy(policy, out / "mode1.safetensors")

    mode2_cfg = copy.deepcopy(cfg)
    mode2_cfg.agent.mode = "mode2"
    full = measure(model, mode2_cfg, progress=progress, desc="mode-2, full horizon")
    short_cfg = short_horizon(mode2_cfg)
    short = measure(model, short_cfg, critic, progress=progress, desc="mode-2, short + critic")
    mode1_cfg = copy.deepcopy(cfg)
    mode1_cfg.agent.mode = "mode1"
    mode1_only = measure(model, mode1_cfg, policy=policy, progress=progress, desc="mode-1 only")
    eager_cfg = copy.deepcopy(mode1_cfg)
    eager_cfg.agent.compile = False  # the same decision uncompiled, for reference
    agents = {
        "mode2": default_agent(model, mode2_cfg, Learned()),
        "mode1": default_agent(model, mode1_cfg, Learned(policy=policy)),
        "uncompiled": default_agent(model, eager_cfg, Learned(policy=policy)),
        "short": default_agent(model, short_cfg, Learned(critic)),
    }
    # in turns: the ratio of two measurements minutes apart drifts with the machine (the
    # critic's speedup, timed apart, read 5.3x and 3.1x in two runs of the same models)
    times = interleaved_latency(model, cfg, agents, LATENCY_DECISIONS, LATENCY_TURN)
    latency = {name: percentiles(t)[0] for name, t in times.items()}
    switch = percentiles(times["mode1"][::LATENCY_TURN])[0]  # the first after Mode-2's turn
    auto_cfg = copy.deepcopy(cfg)
    auto_cfg.agent.mode = "auto"
    auto = measure(model, auto_cfg, critic, policy, progress=progress, desc="mode-1 + mode-2")
    return {
        "critic": {
            "short_horizon_success": short["success"],
            "full_horizon_success": full["success"],
            "speedup": latency["mode2"] / latency["short"],
            "full_ms_median": latency["mode2"],
            "short_ms_median": latency["short"],
            "short_horizon": short_cfg.planner.horizon,
            "full_horizon": cfg.planner.horizon,
            "short": short,
            "full": full,
            "train_seconds": critic_seconds,
            "final_td_loss": critic_loss[-1],
        },
        "mode1": {
            "success": auto["success"],
            "mode2_success": full["success"],
            "success_ratio": auto["success"] / max(full["success"], 1e-9),
            "mode1_only_success": mode1_only["success"],
            "latency_ratio": latency["mode2"] / latency["mode1"],
            "mode1_ms_median": latency["mode1"],
            "mode2_ms_median": latency["mode2"],
            "compiled": cfg.agent.compile,
            "latency_ratio_uncompiled": latency["mode2"] / latency["uncompiled"],
            "mode1_uncompiled_ms_median": latency["uncompiled"],
            "mode1_first_after_mode2_ms_median": switch,
            "latency_decisions": LATENCY_DECISIONS,
            "latency_turn": LATENCY_TURN,
            "auto": auto,
            "mode1_only": mode1_only,
            "train_seconds": mode1_seconds,
            "final_imitation_loss": mode1_loss[-1],
        },
    }


def risk_averse(
    model: WorldModel,
    cfg: RunConfig,
    ensemble: PredictorEnsemble,
    plain: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    """The ``risk`` figures: the full-horizon planner paying ``agent.risk`` times the
    ensemble's spread along its plans, against the same planner without (``plain``)."""
    risky = copy.deepcopy(cfg)
    risky.agent.mode, risky.planner.risk = "mode2", cfg.agent.risk
    bounds = bounds_for(env_from_config(cfg.env))
    averse = measure(model, risky, progress=progress, desc="mode-2, risk-averse",
                     make_agent=lambda: Agent(model, risky, bounds, ensemble=ensemble))  # fmt: skip
    return {
        "success": averse["success"],
        "plain_success": plain["success"],
        "risk": risky.planner.risk,
        "decision_ms_median": averse["decision_ms_median"],
        "plain_decision_ms_median": plain["decision_ms_median"],
        "risk_averse": averse,
    }


def abstain(model: WorldModel, cfg: RunConfig, gate: SafetyGate, progress: bool) -> dict[str, Any]:
    """The ``abstain`` figures: the planning agent with the safety gate, on the held-out
    tasks and on the same tasks in each shifted Two-Rooms (:mod:`jepalab.envs.shifted_rooms`)."""
    mode2_cfg = copy.deepcopy(cfg)
    mode2_cfg.agent.mode = "mode2"
    bounds = bounds_for(env_from_config(cfg.env))

    def gated(c: RunConfig) -> Callable[[], Agent]:
        return lambda: Agent(model, c, bounds, gate=gate)

    familiar = measure(model, mode2_cfg, progress=progress, desc="mode-2 + gate",
                       make_agent=gated(mode2_cfg))  # fmt: skip
    shifted: dict[str, Any] = {}
    for shift in SHIFTS:
        c = copy.deepcopy(mode2_cfg)
        c.env.name = f"two-rooms-{shift}"
        ran, _ = eval_episodes(model, c, gated(c), progress, f"gate, {shift}")
        reasons = [r.split(":")[0] for r in ran.abstained if r is not None]
        shifted[shift] = {
            "abstain_rate": len(reasons) / len(ran.abstained),
            "success": float(np.mean(ran.success)),
            "reasons": {r: reasons.count(r) for r in sorted(set(reasons))},
        }
    rates = [v["abstain_rate"] for v in shifted.values()]
    return {
        "ood_rate": float(np.mean(rates)),
        "ood_rate_min": min(rates),
        "in_distribution_rate": familiar["abstain_rate"],
        "in_distribution_success": familiar["success"],
        "by_shift": shifted,
        "in_distribution": familiar,
        "novelty_threshold": gate.novelty_threshold,
        "surprise_threshold": gate.surprise_threshold,
        "calibration_quantiles": list(gate.quantiles),
    }


def hazard(cfg: RunConfig, checkpoint: str | None, out: Path, progress: bool) -> dict[str, Any]:
    """The ``hazard`` figures: a world model of Hazard Rooms (``checkpoint``, or trained now
    with ``cfg``'s recipe), a hazard probe and a high level learned from its data, and on
    held-out tasks the hierarchical agent (the Configurator's subgoals, the low level
    planning with the hazard cost) and the flat planner, each with and without the hazard
    cost. The flat planner stalls across a wall from goals whose door is far, more often
    where hot cells force detours; the subgoals lead it through the door."""
    from ..pipeline import world_model

    hcfg = copy.deepcopy(cfg)
    hcfg.env.name, hcfg.out_dir, hcfg.data.path = "hazard-rooms", str(out), ""
    model, hcfg, train_seconds = world_model(hcfg, checkpoint, progress)
    hcfg.out_dir = str(out)
    if hcfg.env.name != "hazard-rooms":
        raise JepalabError(
            f"--hazard-checkpoint must be a Hazard Rooms world model, not {hcfg.env.name!r}"
        )
    t = time.perf_counter()
    probe = fit_hazard_probe(model, hcfg.data_path, hcfg.agent.hazard_steps, progress)
    probe_seconds = time.perf_counter() - t
    save_hazard_probe(probe, out / "hazard.safetensors")
    hcfg.agent.mode = "mode2"
    bounds = bounds_for(env_from_config(hcfg.env))
    t = time.perf_counter()
    high, fit = fit_high_level(model, hcfg, bounds, progress)
    high_seconds = time.perf_counter() - t
    save_high_level(high, out / "high.safetensors")

    def run(desc: str, make_agent: Callable[[], Any]) -> dict[str, Any]:
        return measure(model, hcfg, progress=progress, desc=desc, make_agent=make_agent)

    guided = Configurator(model, high, hcfg, bounds, hazard=probe)
    unguarded = Configurator(model, high, hcfg, bounds)
    hier = run("hazard rooms, subgoals + hazard cost", lambda: HierarchicalAgent(guided))
    hier_goal = run("hazard rooms, subgoals, goal cost only", lambda: HierarchicalAgent(unguarded))
    flat = run(
        "hazard rooms, planner + hazard cost", lambda: Agent(model, hcfg, bounds, hazard=probe)
    )
    flat_goal = run("hazard rooms, planner, goal cost only", lambda: Agent(model, hcfg, bounds))

    def brief(m: dict[str, Any]) -> dict[str, float]:
        return {"success": m["success"], "hazard_rate": m["hazard_rate"]}

    return {
        "success": hier["success"],
        "hazard_rate": hier["hazard_rate"],
        "without_hazard_cost": brief(hier_goal),
        "flat_planner": {"with_hazard_cost": brief(flat), "goal_cost_only": brief(flat_goal)},
        "hazard_weight": hcfg.cost.hazard_weight,
        "hierarchical": hier,
        "hierarchical_goal_cost_only": hier_goal,
        "flat_with_hazard_cost": flat,
        "flat_goal_cost_only": flat_goal,
        "high_level": {**fit, "train_seconds": high_seconds},
        "probe_seconds": probe_seconds,
        "train_seconds": train_seconds,
    }


def fit_hazard_probe(
    model: WorldModel, data_path: Path, steps: int, progress: bool = False
) -> HazardProbe:
    """A hazard probe trained on every frame of a Hazard Rooms dataset, its targets from the
    recorded positions and hot cells (:func:`~jepalab.envs.hazard_rooms.hazard_distance`)."""
    with EpisodeDataset(data_path) as ds:
        if "hazard0_x" not in ds.layout_fields:
            raise JepalabError(f"{data_path} records no hot cells: not a Hazard Rooms dataset")
        ids = list(range(ds.num_episodes))
        starts, states, layouts = ds.episode_starts, ds.states, ds.layouts
    distance = np.concatenate(
        [hazard_distance(states[starts[e] : starts[e + 1]], layouts[e]) for e in ids]
    )
    encoded = encode_states(model, data_path, ids)
    probe = HazardProbe(model)
    train_hazard_probe(
        probe, encoded.z, encoded.scenes, encoded.episode, torch.from_numpy(distance), steps,
        progress=progress,
    )  # fmt: skip
    return probe.eval()

"""``jepalab bench agent``: the whole agent on Two-Rooms, learning from its own experience.

1. A world model (trained with the Two-Rooms benchmark recipe, or ``--checkpoint``).
2. Mode-2 (the full-horizon planner) acts in ``agent.memory_episodes`` episodes whose seeds
   neither training nor evaluation uses; the short-term memory stores them.
3. The critic learns the cost to come from that memory (TD, hindsight goals); Mode-1 is
   distilled from the actions Mode-2 chose there.
4. On the same ``eval.episodes`` held-out episodes, it measures:
   - ``critic``: the full-horizon planner without critic against a planner with a 4x
     shorter horizon and the critic as terminal cost (success, decision latency, speedup);
   - ``mode1``: the default agent (Mode-1 first, Mode-2 where Mode-1 is unsure or stuck)
     against Mode-2 alone; Mode-1 alone; the decision latency of each mode.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..actor.policy import Mode1Policy, distill, save_policy
from ..agent import bounds_for
from ..config import RunConfig, save_config
from ..cost import Critic, save_critic, train_critic
from ..envs import env_from_config
from ..memory import ShortTermMemory
from ..training import load_world_model
from ..world_model import WorldModel
from .evaluate import make_agent as default_agent
from .evaluate import replan_latency, run_episodes
from .stats import percentiles, wilson_interval

EXPERIENCE_SEED = 3_000_000
"""Seeds of the experience episodes: disjoint from training data (0+) and evaluation (1e6+)."""


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
    model: WorldModel, cfg: RunConfig, episodes: int, progress: bool = True
) -> tuple[ShortTermMemory, float]:
    """Mode-2 episodes into a fresh short-term memory; returns it and their success rate."""
    memory = ShortTermMemory(capacity=max(50_000, episodes * 200))
    seeds = list(range(EXPERIENCE_SEED, EXPERIENCE_SEED + episodes))
    ok: list[bool] = []
    for b in tqdm(range(0, episodes, cfg.eval.batch_envs), desc="experience", disable=not progress):
        ok += run_episodes(model, cfg, seeds[b : b + cfg.eval.batch_envs], memory=memory)[0]
    return memory, float(np.mean(ok))


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
    make_agent = make_agent or (lambda: default_agent(model, cfg, critic, policy))
    e = cfg.eval
    seeds = list(range(e.seed, e.seed + e.episodes))
    ok: list[bool] = []
    steps: list[int] = []
    counts = {"mode1": 0, "mode2": 0}
    for b in tqdm(range(0, len(seeds), e.batch_envs), desc=desc, disable=not progress):
        agent = make_agent()
        s, _, n, _ = run_episodes(model, cfg, seeds[b : b + e.batch_envs], agent=agent)
        ok, steps = ok + s, steps + n
        counts = {k: v + agent.mode_counts[k] for k, v in counts.items()}
    latencies = replan_latency(model, cfg, e.latency_replans, make_agent())
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
    }


def run_bench(
    cfg: RunConfig, checkpoint: str | None = None, progress: bool = True
) -> dict[str, Any]:
    """The ``bench agent`` figures (see the module docstring); artifacts go to cfg.out_dir."""
    from ..pipeline import collect, machine, train

    out = Path(cfg.out_dir)
    t0 = time.perf_counter()
    train_seconds = None
    if checkpoint:
        model, saved = load_world_model(checkpoint)
        cfg = copy.deepcopy(cfg)
        cfg.model, cfg.env = saved.model, saved.env
    else:
        if not cfg.data_path.exists():
            collect(cfg, progress)
        trained = train(cfg, progress=progress)
        model, train_seconds = trained.model, trained.train_seconds
    save_config(cfg, out / "config.yaml")
    a = cfg.agent

    t = time.perf_counter()
    memory, experience_success = gather_experience(model, cfg, a.memory_episodes, progress)
    experience_seconds = time.perf_counter() - t

    t = time.perf_counter()
    torch.manual_seed(cfg.train.seed)
    critic = Critic(model.embed_dim)
    critic_loss = train_critic(critic, memory, steps=a.critic_steps, progress=progress)
    critic_seconds = time.perf_counter() - t
    env = env_from_config(cfg.env)
    t = time.perf_counter()
    policy = Mode1Policy(model.embed_dim, bounds_for(env))
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
    auto_cfg = copy.deepcopy(cfg)
    auto_cfg.agent.mode = "auto"
    auto = measure(model, auto_cfg, critic, policy, progress=progress, desc="mode-1 + mode-2")
    return {
        "benchmark": "agent",
        "critic": {
            "short_horizon_success": short["success"],
            "full_horizon_success": full["success"],
            "speedup": full["decision_ms_median"] / short["decision_ms_median"],
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
            "latency_ratio": full["decision_ms_median"] / mode1_only["decision_ms_median"],
            "mode1_ms_median": mode1_only["decision_ms_median"],
            "mode2_ms_median": full["decision_ms_median"],
            "auto": auto,
            "mode1_only": mode1_only,
            "train_seconds": mode1_seconds,
            "final_imitation_loss": mode1_loss[-1],
        },
        "experience": {
            "episodes": a.memory_episodes,
            "transitions": len(memory),
            "mode2_success": experience_success,
            "seconds": experience_seconds,
        },
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t0,
        "machine": machine(),
    }

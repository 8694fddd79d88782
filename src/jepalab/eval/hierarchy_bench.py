"""``jepalab bench hierarchy``: flat against hierarchical planning, at the same planning budget.

1. A maze world model (the demo recipe on ``--env.name maze``, or ``--checkpoint``) and a
   Two-Rooms one (the demo recipe, or ``--two-rooms-checkpoint``).
2. On each, the high level is trained from the model's own dataset
   (:func:`~jepalab.training.high_level.train_high_level`) and saved as
   ``high.safetensors`` in the run folder.
3. On ``eval.episodes`` held-out tasks of each world (seeds 1,000,000+) it measures:
   - ``flat``: the planner with horizon ``hierarchy.low_horizon`` pursuing the goal;
   - ``hierarchical``: the same planner, same horizon, samples and iterations, pursuing
     the Configurator's subgoals (:class:`~jepalab.configurator.HierarchicalAgent`);
   - ``flat_full_horizon`` (maze only, for reference): the flat planner at the run's own,
     longer horizon (``planner.horizon``), several times the budget;
   - ``sealed_goal`` (maze only, bad input): 50 of those tasks (at most ``eval.episodes``)
     with the goal's room sealed off; how often the hierarchical agent abstains, and how
     soon.

It also writes ``eval.gifs`` episode GIFs per world (``hierarchical_<seed>.gif`` in the run
folder) with the route decoded onto the map by a linear position probe.

Planning time is measured per decision on one environment (observation in, action out,
the subgoal search included where it happens), and per environment step: a decision serves
``model.frame_skip`` environment steps.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..agent import bounds_for
from ..config import RunConfig, save_config
from ..configurator import Configurator, HierarchicalAgent
from ..data import EpisodeDataset
from ..envs import env_from_config
from ..errors import JepalabError
from ..training.high_level import fit_high_level, save_high_level
from ..world_model import WorldModel
from .agent_bench import measure
from .plots import episode_frame, write_gif
from .probe import LinearProbe


def bench_config() -> RunConfig:
    """The maze run of the benchmark: the demo recipe, 200 evaluation episodes."""
    cfg = RunConfig(out_dir="runs/bench-hierarchy/maze")
    cfg.env.name = "maze"
    cfg.eval.episodes = 200
    cfg.eval.batch_envs = 50
    # Subgoal searches happen now and then: time enough decisions to average over them.
    cfg.eval.latency_replans = 300
    return cfg


def compare(model: WorldModel, cfg: RunConfig, maze: bool, progress: bool) -> dict[str, Any]:
    """Train the high level on ``model``'s data; measure flat and hierarchical agents (on
    the ``maze`` also the flat planner's full horizon and sealed goals)."""
    h = cfg.hierarchy
    env = env_from_config(cfg.env)
    bounds = bounds_for(env)
    t = time.perf_counter()
    high, fit = fit_high_level(model, cfg, bounds, progress)
    high_seconds = time.perf_counter() - t
    save_high_level(high, Path(cfg.out_dir) / "high.safetensors")
    configurator = Configurator(model, high, cfg, bounds)
    probe = position_probe(model, cfg.data_path)
    seeds = list(range(cfg.eval.seed, cfg.eval.seed + cfg.eval.gifs))
    gifs = subgoal_gifs(configurator, cfg, probe, seeds, Path(cfg.out_dir)) if probe else []
    low_cfg = configurator.low_config()
    flat = measure(model, low_cfg, progress=progress, desc=f"flat, horizon {h.low_horizon}")
    hier = measure(
        model,
        low_cfg,
        progress=progress,
        desc="hierarchical",
        make_agent=lambda: HierarchicalAgent(configurator),
    )
    skip = cfg.model.frame_skip
    out: dict[str, Any] = {
        "flat": {**flat, "ms_per_step": flat["decision_ms_mean"] / skip},
        "hierarchical": {**hier, "ms_per_step": hier["decision_ms_mean"] / skip},
        "high_level": {**fit, "train_seconds": high_seconds},
        "gifs": gifs,
        "planning_budget": {
            "horizon": low_cfg.planner.horizon,
            "action_repeat": low_cfg.planner.action_repeat,
            "samples": low_cfg.planner.samples,
            "iterations": low_cfg.planner.iterations,
        },
    }
    if maze:
        full = measure(model, cfg, progress=progress, desc=f"flat, horizon {cfg.planner.horizon}")
        out["flat_full_horizon"] = {
            **full,
            "ms_per_step": full["decision_ms_mean"] / skip,
            "horizon": cfg.planner.horizon,
        }
        out["sealed_goal"] = sealed_goals(configurator, cfg, min(50, cfg.eval.episodes))
    return out


SUBGOAL = (255, 220, 0)  # the subgoal handed to the low level now
ROUTE = (0, 160, 255)  # the rest of the route


def position_probe(
    model: WorldModel, data_path: str | Path, episodes: int = 100
) -> LinearProbe | None:
    """A linear probe from embeddings to the agent's ``(x, y)`` (the first two entries of the
    dataset's true states), fitted on ``episodes`` episodes; None if the dataset has none."""
    with EpisodeDataset(data_path) as ds:
        if ds.state_dim < 2:
            return None
        eps = [ds.episode(i) for i in range(min(episodes, ds.num_episodes))]
    with torch.no_grad():
        z = torch.cat([model.encode(torch.from_numpy(ep["obs"])) for ep in eps])
    y = torch.cat([torch.from_numpy(ep["states"][:, :2]) for ep in eps])
    return LinearProbe.fit(z, y)


@torch.no_grad()
def subgoal_gifs(
    configurator: Configurator, cfg: RunConfig, probe: LinearProbe, seeds: list[int], out: Path
) -> list[str]:
    """GIFs of hierarchical episodes with the route drawn on the map: every subgoal decoded
    by ``probe`` (blue crosses), the one the low level pursues now in yellow."""
    env = env_from_config(cfg.env)
    paths = []
    for seed in seeds:
        agent = HierarchicalAgent(configurator)
        obs, goal = env.reset_task(seed)
        agent.set_goal(goal)
        frames, done = [], False
        while not done:
            action = agent.act(obs)
            route = agent.routes[0]
            marks = [(x, y, ROUTE) for x, y in probe(route.subgoals).tolist()] if route else []
            if agent.subgoal is not None:
                x, y = probe(agent.subgoal).tolist()[0]
                marks.append((x, y, SUBGOAL))
            frames.append(episode_frame(obs, goal, marks=marks))
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        frames.append(episode_frame(obs, goal))
        paths.append(str(write_gif(frames, out / f"hierarchical_{seed}.gif")))
    return paths


def sealed_goals(configurator: Configurator, cfg: RunConfig, tasks: int = 50) -> dict[str, Any]:
    """Bad input: held-out maze tasks with the goal's room sealed off (the last door of the
    route closed; tasks whose goal stood in that doorway are skipped). How often the
    hierarchical agent abstains, and after how many steps."""
    from ..envs.maze import walls_between

    env = env_from_config(cfg.env)
    index = {frozenset(w): i for i, w in enumerate(walls_between())}
    abstained, steps, reasons = [], [], set()
    seed = cfg.eval.seed
    while len(abstained) < tasks:
        env.reset_task(seed)
        seed += 1
        rooms, layout = env.route(), list(env.layout)
        layout[index[frozenset(rooms[-2:])]] = -1
        start, goal = env.state, env.goal
        obs, _ = env.reset(options={"layout": layout, "pos": start})
        try:
            goal_obs = env.set_goal(goal)
        except JepalabError:  # the goal stood in the doorway now walled up
            continue
        agent = HierarchicalAgent(configurator)
        agent.set_goal(goal_obs)
        for step in range(env.max_episode_steps):
            obs, *_ = env.step(agent.act(obs))
            if agent.abstained[0] is not None:
                steps.append(step + 1)
                reasons.add(agent.abstained[0].split(":")[0])
                break
        abstained.append(agent.abstained[0] is not None)
    return {
        "episodes": tasks,
        "abstain_rate": float(np.mean(abstained)),
        "median_steps_to_abstain": float(np.median(steps)) if steps else None,
        "reasons": sorted(reasons),
    }


def run_bench(
    cfg: RunConfig,
    checkpoint: str | None = None,
    two_rooms_checkpoint: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The ``bench hierarchy`` figures (see the module docstring); runs go under
    ``cfg.out_dir`` (the maze) and its sibling ``two-rooms``."""
    from ..pipeline import machine, world_model

    t0 = time.perf_counter()
    maze_model, maze_cfg, maze_train = world_model(cfg, checkpoint, progress)
    save_config(maze_cfg, Path(cfg.out_dir) / "config.yaml")
    maze = compare(maze_model, maze_cfg, maze=True, progress=progress)

    rooms_cfg = copy.deepcopy(cfg)
    rooms_cfg.env.name = "two-rooms"
    rooms_cfg.out_dir = str(Path(cfg.out_dir).parent / "two-rooms")
    rooms_cfg.data.path = ""
    rooms_model, rooms_cfg, rooms_train = world_model(rooms_cfg, two_rooms_checkpoint, progress)
    save_config(rooms_cfg, Path(rooms_cfg.out_dir) / "config.yaml")
    rooms = compare(rooms_model, rooms_cfg, maze=False, progress=progress)

    flat, hier = maze["flat"], maze["hierarchical"]
    return {
        "benchmark": "hierarchy",
        "flat": flat,
        "hierarchical": hier,
        "time_ratio": hier["ms_per_step"] / flat["ms_per_step"],
        "flat_full_horizon": maze["flat_full_horizon"],
        "planning_budget": maze["planning_budget"],
        "high_level": maze["high_level"],
        "sealed_goal": maze["sealed_goal"],
        "gifs": maze["gifs"],
        "two_rooms": {
            "flat_success": rooms["flat"]["success"],
            "hierarchical_success": rooms["hierarchical"]["success"],
            **rooms,
        },
        "checkpoints": {"maze": checkpoint, "two_rooms": two_rooms_checkpoint},
        "train_seconds": {"maze": maze_train, "two_rooms": rooms_train},
        "seconds": time.perf_counter() - t0,
        "machine": machine(),
    }

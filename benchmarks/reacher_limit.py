"""Where do a Reacher run's routed folded misses fail? The goal's place, the elbow's limit.

A diagnosis, not a score (BENCHMARKS, Reacher, session 39). Three figures on the evaluation
tasks (``--episodes`` from ``--seed``), their goals grouped as ``reacher_goals.py`` does:

* **goal location**: the run's episodic memory (``agent.route_*``, from the run's dataset)
  locates each goal's picture at a node, as routes do; how far that node's fingertip (read
  from the dataset's states) is from the goal's. Small: the routes lead to the goal.
* **the slope at the elbow's limit**: with the shoulder at the goal's, the goal cost at rest
  with the elbow at its limit on the goal's side, and with the elbow 0.5 rad short of the
  goal's on the open side; each per centimetre of fingertip distance. The folded misses
  come to rest at the limit.
* **the predictor there**: from the arm at rest in each of those two places, ``--plans``
  random plans of the planner's horizon (and staying put) are played in the simulator and
  rolled out by the world model; the Spearman correlation of predicted and true terminal
  goal costs, both costs of staying put, and whether the plan the model rates best truly
  ends better than staying.

It reads the task's joint angles and sets the simulator's state, as ``reacher_goals.py``
does; the agent sees only pictures.

Usage::

    python benchmarks/reacher_limit.py runs/bench-reacher --out reacher_limit.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from reacher_goals import fold_groups, goal_of
from scipy.stats import spearmanr

from jepalab.config import VALIDATION_SEED
from jepalab.cost import goal_cost
from jepalab.data import EpisodeDataset
from jepalab.envs import reacher as reacher_env
from jepalab.errors import JepalabError
from jepalab.io import atomic_write_text
from jepalab.memory import EpisodicMemory
from jepalab.training import load_world_model

SHORT = 0.5  # rad short of the goal's elbow, on the open side


@torch.no_grad()
def goal_location(model, cfg, run: str, goals: list[tuple]) -> np.ndarray:
    """``(G,)`` metres between each goal's fingertip and that of the memory node its
    picture is located at."""
    a = cfg.agent
    data = f"{run}/data.h5"
    memory = EpisodicMemory.from_dataset(
        model, data, a.route_every or 3, a.route_neighbours, a.route_embed_radius,
        a.route_picture_radius, a.route_blur, cfg.model.frames, cfg.train.seed,
    )  # fmt: skip
    with EpisodeDataset(data) as ds:
        tips = ds.states[memory.frames, :2]  # the fingertip, per node
    obs = torch.as_tensor(np.stack([o for o, _, _ in goals]))
    nodes = memory.locate(model.encode(obs), memory.picture(obs))
    return np.linalg.norm(tips[nodes] - np.stack([t for _, _, t in goals]), axis=1)


@torch.no_grad()
def from_rest(model, env, arm: np.ndarray, z_goal: torch.Tensor, plans: np.ndarray) -> dict:
    """Plans ``(N, H, 2)`` (the first: stay put) from the arm at rest at ``arm (2,)``: played
    in the simulator and rolled out by ``model``, scored by the goal cost to ``z_goal (1, D)``."""
    true = []
    for plan in plans:
        obs = env.start_at(arm)
        for action in plan:
            obs = env.step(action)[0]
        true.append(float(goal_cost(model.encode(torch.as_tensor(obs[None])), z_goal)[0]))
    z0 = model.encode(torch.as_tensor(env.start_at(arm)[None]))
    pred = model.rollout(z0.expand(len(plans), -1), torch.as_tensor(plans))[:, -1]
    pred_cost = goal_cost(pred, z_goal).numpy()
    true = np.array(true)
    best = int(pred_cost.argmin())
    return {
        "spearman": float(spearmanr(pred_cost, true)[0]),
        "stay_true": float(true[0]),
        "stay_predicted": float(pred_cost[0]),
        "rated_best_true": float(true[best]),
        "rated_best_beats_staying": bool(true[best] < true[0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a Reacher run folder (checkpoints/, data.h5)")
    ap.add_argument("--episodes", type=int, default=50, help="evaluation tasks")
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="the first task's seed")
    ap.add_argument("--plans", type=int, default=64, help="random plans from each rest")
    ap.add_argument("--no-locate", action="store_true", help="skip goal location (~4 min)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    model, cfg = load_world_model(args.run)
    if cfg.env.name != "reacher" or cfg.model.frame_skip != 1:
        raise JepalabError(f"{args.run}: this diagnosis reads a Reacher run of frame_skip 1")
    env, rng = reacher_env.ReacherTask(), np.random.default_rng(0)
    seeds = list(range(args.seed, args.seed + args.episodes))
    goals = [goal_of(env, s) for s in seeds]
    folded = fold_groups(np.array([q[1] for _, q, _ in goals]))["folded"]
    result: dict = {"run": args.run, "episodes": len(seeds), "seed": args.seed}
    if not args.no_locate:
        miss = goal_location(model, cfg, args.run, goals)
        result["goal_location_m"] = {
            "median": float(np.median(miss)),
            "median_folded": float(np.median(miss[folded])),
            "over_3cm": int((miss > 0.03).sum()),
        }

    each = []
    for i in np.flatnonzero(folded):
        goal_obs, q, tip = goals[i]
        side = np.sign(q[1])
        with torch.no_grad():
            z_goal = model.encode(torch.as_tensor(goal_obs[None]))
        row: dict = {"seed": seeds[i], "goal_elbow": float(q[1])}
        limit = side * env.sim.model.jnt_range[1, 1]  # the elbow's own range, +-3.0 rad
        for name, elbow in (("limit", limit), ("open", q[1] - side * SHORT)):
            arm = np.array([q[0], elbow])
            obs, at = env.picture_at(arm), env.fingertip
            with torch.no_grad():
                cost = float(goal_cost(model.encode(torch.as_tensor(obs[None])), z_goal)[0])
            cm = float(np.linalg.norm(at - tip) * 100)
            plans = rng.uniform(-1, 1, (args.plans + 1, cfg.planner.horizon, 2)).astype(np.float32)
            plans[0] = 0.0
            row[name] = {"cost": cost, "cm": cm, "cost_per_cm": cost / cm}
            row[name].update(from_rest(model, env, arm, z_goal, plans))
        each.append(row)

    def median(where: str, key: str) -> float:
        return float(np.median([r[where][key] for r in each]))

    result["folded_goals"] = {
        "tasks": len(each),
        "open_over_limit_slope_median": float(
            np.median([r["open"]["cost_per_cm"] / r["limit"]["cost_per_cm"] for r in each])
        ),
        **{
            f"{where}_{key}_median": median(where, key)
            for where in ("limit", "open")
            for key in ("cost", "cm", "spearman", "stay_true", "stay_predicted")
        },
        **{
            f"{where}_rated_best_beats_staying_share": float(
                np.mean([r[where]["rated_best_beats_staying"] for r in each])
            )
            for where in ("limit", "open")
        },
        "each": each,
    }
    result["seconds"] = time.perf_counter() - t0
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "folded_goals"}, indent=2))
    print(json.dumps({k: v for k, v in result["folded_goals"].items() if k != "each"}, indent=2))


if __name__ == "__main__":
    main()

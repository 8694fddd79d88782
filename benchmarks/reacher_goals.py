"""Which Reacher goals does a run's agent miss? Success by how far the goal's elbow is folded.

A diagnosis, not a score. The agent plays evaluation tasks as ``jepalab evaluate`` does
(``--episodes`` tasks from ``--seed``); each task is grouped by its goal's elbow angle
``|q2|``: *folded* from :data:`FOLDED` rad on (the fingertip within 0.135 m of the arm's
root), *open* below. Per group: the success rate, and of the misses, how many ended with
the elbow bent to the other side from the goal's (the *mirror* fold: in the embedding a
folded arm lies nearer its mirror image than the open arm between them, and a short plan
does not cross that hill).

And how sharply the world model's goal cost (squared embedding distance) tells arms at
rest apart near each goal: for configurations jittered around the goal's joints, the
median cost of those whose fingertip lies 2.5-4 cm from the goal's (a near miss, just
outside the success radius of 3 cm) and of those within 1.5 cm; and the share of goals
for which one of 400 random configurations with the fingertip more than 8 cm away costs
less than that near miss (a false minimum a plan can settle in); and the cost of each
goal's *swapped V* basin (:func:`swapped_v_cost`, the false minimum the folded misses
settle in) over that near miss: its median, and the share of goals where it is below 1.
When the agent plays, each folded miss's resting arm is rendered at rest and its cost
over that goal's near miss is scored twice (:func:`rest_over_near_miss`): by the run's
embedding and by pictures blurred 2 px (as ``--pictures 2``). Where both are low, the
miss rests in a false minimum of picture likeness itself, which no encoder that keeps
pictures' order can remove. ``reacher_dynamics.py``
ranks the dataset's frames by the same cost, all goals pooled; here the arms are rendered
around the evaluation's own goals, folded and open apart.

``--pictures SIGMA`` scores the cost figures of the pictures themselves instead of a run's
embedding: the squared distance between last pictures blurred by a Gaussian of SIGMA px and
averaged over 2 x 2 pixels (what ``objective.pixel_neighbours_*`` hands the encoder).

It reads the task's joint angles (``ReacherTask.goal_arm`` and the simulator's state), as
``reacher_oracle.py`` does; the agent sees only pictures.

Usage::

    python benchmarks/reacher_goals.py runs/bench-reacher --out reacher_goals.json
    python benchmarks/reacher_goals.py --pictures 2 --no-play --out reacher_goals_pixels.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from jepalab.config import VALIDATION_SEED
from jepalab.cost import goal_cost
from jepalab.envs import reacher as reacher_env
from jepalab.errors import JepalabError
from jepalab.eval.evaluate import run_episodes
from jepalab.io import atomic_write_text
from jepalab.training import load_world_model
from jepalab.world_model import PixelNeighbours

FOLDED = 1.75  # rad of elbow bend from which a goal counts as folded
RING = (0.025, 0.04)  # m from the goal's fingertip: just outside the success radius
INSIDE = 0.015  # m: well inside it
FAR = 0.08  # m: a look-alike this far away is a false minimum of the goal cost
UPPER_ARM = 0.1  # m, shoulder to elbow (Reacher-v5's first link)


def fold_groups(goal_elbow: np.ndarray) -> dict[str, np.ndarray]:
    """Task masks by the goal's elbow angles ``(N,)``: ``folded`` from :data:`FOLDED` rad of
    bend on, ``open`` below."""
    folded = np.abs(goal_elbow) >= FOLDED
    return {"folded": folded, "open": ~folded}


def by_fold(goal_elbow: np.ndarray, final_elbow: np.ndarray, success: np.ndarray) -> dict:
    """Tasks grouped by :func:`fold_groups`: per group ``tasks``, ``success`` and
    ``mirror_misses`` (misses whose final elbow is bent to the other side)."""
    mirror = ~success & (np.sign(final_elbow) != np.sign(goal_elbow))
    return {
        name: {
            "tasks": int(group.sum()),
            "success": float(success[group].mean()) if group.any() else float("nan"),
            "mirror_misses": int(mirror[group].sum()),
        }
        for name, group in fold_groups(goal_elbow).items()
    }


def goal_of(env, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Task ``seed``'s goal: its picture, joint angles ``(2,)`` and fingertip ``(2,)``."""
    _, goal_obs = env.reset_task(seed)
    return goal_obs, env.goal_arm, env.goal


def rest_arms(env, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pictures ``(N, H, W, 6)`` and fingertips ``(N, 2)`` of the arm at rest at each of the
    joint angles ``arms (N, 2)``, the elbow clipped to the range tasks draw it from."""
    obs, tips = [], []
    for q in arms:
        q = np.array([q[0], np.clip(q[1], -reacher_env.JOINT1_LIMIT, reacher_env.JOINT1_LIMIT)])
        obs.append(env.picture_at(q))
        tips.append(env.fingertip)
    return np.stack(obs), np.array(tips)


@torch.no_grad()
def cost_near_goal(
    model, env, goal: tuple, z_goal: torch.Tensor, rng: np.random.Generator, n: int = 60
) -> tuple[float, float]:
    """Median goal cost of rest configurations near a goal (:func:`goal_of`, embedded as
    ``z_goal (1, D)``): those with the fingertip in :data:`RING` and within :data:`INSIDE`
    (NaN where none fell there)."""
    _, goal_q, goal_tip = goal
    obs, tips = rest_arms(env, goal_q + rng.normal(0.0, 0.25, (n, 2)))
    cost = goal_cost(model.encode(torch.as_tensor(obs)), z_goal).numpy()
    dist = np.linalg.norm(tips - goal_tip, axis=1)
    ring, inside = cost[(dist > RING[0]) & (dist < RING[1])], cost[dist < INSIDE]
    return (
        float(np.median(ring)) if len(ring) else float("nan"),
        float(np.median(inside)) if len(inside) else float("nan"),
    )


@torch.no_grad()
def far_lookalikes(
    model, env, goals: list[tuple], z_goals: torch.Tensor, ring: np.ndarray, n: int = 400
) -> np.ndarray:
    """Per goal (:func:`goal_of`, embedded as ``z_goals (G, D)``): whether some of ``n``
    random rest configurations with the fingertip more than :data:`FAR` from the goal's
    costs less than the goal's median near miss ``ring`` (a false minimum a plan can settle
    in)."""
    rng = np.random.default_rng(1)
    elbow = reacher_env.JOINT1_LIMIT
    arms = np.stack([rng.uniform(-np.pi, np.pi, n), rng.uniform(-elbow, elbow, n)], 1)
    obs, tips = rest_arms(env, arms)
    z = model.encode(torch.as_tensor(obs))
    found = []
    for (_, _, goal_tip), z_goal, near_miss in zip(goals, z_goals, ring, strict=True):
        cost = goal_cost(z, z_goal).numpy()
        far = np.linalg.norm(tips - goal_tip, axis=1) > FAR
        found.append(bool((cost[far] < near_miss).any()))
    return np.array(found)


def swapped_v(goal_q: np.ndarray, goal_tip: np.ndarray) -> np.ndarray:
    """The *swapped V* of a goal (joint angles ``(2,)``, fingertip ``(2,)``): the arm whose
    upper link points at the goal's fingertip and whose forearm points from there at the
    goal's elbow, i.e. the goal's picture with the links' roles swapped. For a folded
    goal it covers nearly the same pixels with the fingertip 10-13 cm away."""
    elbow = UPPER_ARM * np.array([np.cos(goal_q[0]), np.sin(goal_q[0])])
    q1 = float(np.arctan2(goal_tip[1], goal_tip[0]))
    to_elbow = elbow - UPPER_ARM * np.array([np.cos(q1), np.sin(q1)])
    q2 = float(np.angle(np.exp(1j * (np.arctan2(to_elbow[1], to_elbow[0]) - q1))))
    return np.array([q1, np.clip(q2, -reacher_env.JOINT1_LIMIT, reacher_env.JOINT1_LIMIT)])


@torch.no_grad()
def swapped_v_cost(
    model, env, goals: list[tuple], z_goals: torch.Tensor, reach: float = 0.45
) -> np.ndarray:
    """Per goal (:func:`goal_of`, embedded as ``z_goals (G, D)``): the least goal cost at
    rest within ``reach`` rad of each joint of its :func:`swapped_v` (a 7 x 7 grid), among
    arms with the fingertip over :data:`FAR` from the goal's: the floor of the false basin,
    which lies up to 0.3 rad from the exact swap."""
    offsets = np.linspace(-reach, reach, 7)
    grid = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    found = []
    for (_, goal_q, goal_tip), z_goal in zip(goals, z_goals, strict=True):
        obs, tips = rest_arms(env, swapped_v(goal_q, goal_tip) + grid)
        cost = goal_cost(model.encode(torch.as_tensor(obs)), z_goal[None]).numpy()
        far = np.linalg.norm(tips - goal_tip, axis=1) > FAR
        found.append(float(cost[far].min()) if far.any() else float("nan"))
    return np.array(found)


@torch.no_grad()
def rest_over_near_miss(
    model, env, goal: tuple, arm: np.ndarray, rng: np.random.Generator
) -> float:
    """The goal cost of the arm at rest at joint angles ``arm (2,)`` over the goal's
    (:func:`goal_of`) median near miss (:func:`cost_near_goal`), by ``model``."""
    obs, _ = rest_arms(env, arm[None])
    z_goal = model.encode(torch.as_tensor(goal[0][None]))
    near_miss = cost_near_goal(model, env, goal, z_goal, rng)[0]
    return float(goal_cost(model.encode(torch.as_tensor(obs)), z_goal)[0]) / near_miss


class BlurredPictures:
    """The goal-cost figures' stand-in for a world model: ``encode(obs (N, H, W, 6))`` is
    the last picture blurred by ``sigma`` px and averaged over 2 x 2 pixels, ``(N, P)``
    (the blur matrices made once)."""

    def __init__(self, sigma: float, obs_shape: tuple[int, int, int]) -> None:
        self.encode = PixelNeighbours(obs_shape, frames=2, blur=sigma, queue=0).pictures


@contextmanager
def recording_tasks() -> Iterator[list]:
    """Every ``ReacherTask`` that starts a task inside the block, in order (evaluation
    makes its environments itself; their arms are read after the episodes)."""
    tasks, original = [], reacher_env.ReacherTask.reset_task

    def reset_task(self, seed: int):
        tasks.append(self)
        return original(self, seed)

    reacher_env.ReacherTask.reset_task = reset_task
    try:
        yield tasks
    finally:
        reacher_env.ReacherTask.reset_task = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", nargs="?", help="a Reacher run folder (checkpoints/)")
    ap.add_argument(
        "--pictures",
        type=float,
        metavar="SIGMA",
        help="score blurred pictures (Gaussian of SIGMA px) instead of a run (with --no-play)",
    )
    ap.add_argument("--episodes", type=int, default=50, help="evaluation tasks")
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="the first task's seed")
    ap.add_argument(
        "--no-play", action="store_true", help="only the goal cost's figures (no episodes)"
    )
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    if (args.run is None) == (args.pictures is None):
        ap.error("give either a run or --pictures SIGMA")
    if args.pictures is not None and (not args.no_play or args.pictures <= 0):
        ap.error("--pictures needs --no-play (pictures do not plan) and SIGMA > 0")
    env, rng = reacher_env.ReacherTask(), np.random.default_rng(0)
    if args.pictures is not None:
        model, cfg = BlurredPictures(args.pictures, env.observation_space.shape), None
    else:
        model, cfg = load_world_model(args.run)
        if cfg.env.name != "reacher":
            raise JepalabError(
                f"{args.run} is a {cfg.env.name!r} run; this diagnosis reads Reacher"
            )
    seeds = list(range(args.seed, args.seed + args.episodes))
    goals = [goal_of(env, s) for s in seeds]
    goal_elbow = np.array([q[1] for _, q, _ in goals])
    groups: dict = {}
    result: dict = {"run": args.run, "episodes": len(seeds), "seed": args.seed}
    if args.pictures is not None:
        result["pictures_blur_px"] = args.pictures

    if not args.no_play:
        final_arm, success = [], []
        for b in range(0, len(seeds), cfg.eval.batch_envs):
            with recording_tasks() as envs:
                success += run_episodes(model, cfg, seeds[b : b + cfg.eval.batch_envs]).success
            final_arm += [e.sim.data.qpos[:2].copy() for e in envs]
            print(f"played {len(success)} tasks", file=sys.stderr)
        result["success_rate"] = float(np.mean(success))
        final_arm = np.array(final_arm)
        groups = by_fold(goal_elbow, final_arm[:, 1], np.array(success))
        pictures = BlurredPictures(2.0, env.observation_space.shape)
        misses = fold_groups(goal_elbow)["folded"] & ~np.array(success)
        rest = {
            name: [
                rest_over_near_miss(m, env, goals[i], final_arm[i], np.random.default_rng(0))
                for i in np.flatnonzero(misses)
            ]
            for name, m in (("embedding", model), ("pictures_2px", pictures))
        }
        groups["folded"]["miss_rest_over_near_miss"] = {
            name: {"median": float(np.nanmedian(r)) if r else float("nan"), "each": r}
            for name, r in rest.items()
        }

    with torch.no_grad():
        z_goals = model.encode(torch.as_tensor(np.stack([obs for obs, _, _ in goals])))
    costs = np.array(
        [cost_near_goal(model, env, g, z[None], rng) for g, z in zip(goals, z_goals, strict=True)]
    )
    lookalikes = far_lookalikes(model, env, goals, z_goals, costs[:, 0])
    swapped = swapped_v_cost(model, env, goals, z_goals) / costs[:, 0]
    for name, group in fold_groups(goal_elbow).items():
        groups.setdefault(name, {"tasks": int(group.sum())})
        groups[name]["goal_cost"] = {
            "near_miss_2.5_4cm": float(np.nanmedian(costs[group, 0])),
            "inside_1.5cm": float(np.nanmedian(costs[group, 1])),
            "far_lookalike_share": float(lookalikes[group].mean()),
            "swapped_v_over_near_miss": float(np.nanmedian(swapped[group])),
            "swapped_v_below_near_miss_share": float((swapped[group] < 1).mean()),
        }
    result.update(by_goal_fold=groups, folded_from_rad=FOLDED, seconds=time.perf_counter() - t0)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    try:
        main()
    except JepalabError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

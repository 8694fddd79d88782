"""How well does a Reacher world model know the arm: where it is, how fast, where it goes?

A diagnosis, not a score: it reads the arm's true state, which the agent never sees. On
frames of the run's own dataset (Reacher records the fingertip's position in its first two
state entries), it reports:

- ``probe_r2``: a linear probe from the embedding to the fingertip's position and velocity
  (fitted on three quarters of the frames, scored on the rest).
- ``decode``: how far apart, in metres, are the fingertips of a held-out frame and of the
  frame whose embedding is nearest to it. It shows whether "near in embedding" means
  "near in the world", which is what a planner needs. ``oracle`` is the same figure with
  the true fingertip positions in place of the embedding: the floor this many frames allow.
- ``goal_landscape``: for goals among the frames where the arm is at rest, how the
  planner's cost (the squared embedding distance to the goal) ranks the other frames
  against their fingertip distance to the goal: the Spearman correlation (1: the cost
  falls all the way in), the cost of frames within 3 cm of the goal relative to the median
  (0: the goal's neighbourhood is a clear minimum) and the share of the cost in the speed
  half of the embedding (stacked frames only).
- ``rollout``: open-loop predictions from a frame and the recorded actions, decoded by the
  same nearest neighbour. It reports the median fingertip error in metres per horizon (in
  world-model steps), next to ``copy``, which predicts that the arm stays where it is.

With stacked frames (``model.frames 2``), distances use only the last picture's half of
the embedding, its position. The other half is its change, the speed.

Usage::

    python benchmarks/reacher_dynamics.py RUN_DIR --out reacher_dynamics.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from jepalab.data.dataset import WindowDataset
from jepalab.errors import DataError, JepalabError
from jepalab.eval.probe import LinearProbe
from jepalab.io import atomic_write_text
from jepalab.training import load_world_model


def encode(model, obs: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` -> ``(N, D)`` embeddings, a chunk at a time."""
    return torch.cat([model.encode(obs[i : i + chunk]) for i in range(0, len(obs), chunk)])


def r2(pred: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per-column coefficient of determination of ``(N, S)`` predictions."""
    res = (pred.double() - y.double()).pow(2).sum(0)
    tot = (y.double() - y.double().mean(0)).pow(2).sum(0)
    return [round(float(v), 4) for v in 1 - res / tot]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Rank correlation of two ``(N,)`` samples (continuous values: no ties)."""
    ra, rb = (x.argsort().argsort().double() for x in (a, b))
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="Reacher run folder (checkpoints/ and data.h5)")
    ap.add_argument("--frames", type=int, default=8000, help="frames for probe and decoding")
    ap.add_argument("--goals", type=int, default=30, help="goals at rest for the landscape")
    ap.add_argument("--rollouts", type=int, default=300)
    ap.add_argument("--horizon", type=int, default=12, help="world-model steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    model, cfg = load_world_model(args.run)
    cfg.out_dir = args.run  # its data.h5, unless the run named another dataset
    data_path = cfg.data_path

    # Frames with the state before them: the fingertip's velocity per environment step.
    pairs = WindowDataset(data_path, window=2, in_memory=False)
    if pairs.state_dim < 2:
        raise DataError(f"{data_path} records no fingertip position (states); collect Reacher")
    frames = pairs.batch(np.sort(rng.choice(len(pairs), args.frames, replace=False)))
    z = encode(model, frames["obs"][:, 1])
    tip, before = frames["states"][:, 1, :2].double(), frames["states"][:, 0, :2].double()
    y = torch.cat([tip, tip - before], 1)
    fit = args.frames * 3 // 4
    probe = LinearProbe.fit(z[:fit], y[:fit])
    scores = r2(probe(z[fit:]), y[fit:])

    # Near in embedding, near in the world? (the position half with stacked frames)
    half = z.shape[1] // cfg.model.frames
    ref_z, ref_tip = z[:fit, :half].double(), tip[:fit]
    nearest = torch.cdist(z[fit:, :half].double(), ref_z).argmin(1)
    decode = (tip[fit:] - ref_tip[nearest]).norm(dim=1)
    oracle = torch.cdist(tip[fit:], ref_tip).min(1).values

    # The planner's cost around goals at rest (frames that hardly moved since the last).
    still = torch.nonzero((tip - before).norm(dim=1) < 0.001).flatten()[: args.goals]
    landscape = []
    for g in still:
        world = (tip - tip[g]).norm(dim=1)
        cost = (z - z[g]).pow(2).sum(1).double()
        speed = (z[:, half:] - z[g, half:]).pow(2).sum(1).double()
        near = (world < 0.03) & (world > 0)
        landscape.append(
            [
                spearman(world, cost),
                float(cost[near].median() / cost.median()),
                float(speed.sum() / cost.sum()),
            ]
        )
    landscape = np.mean(landscape, 0)

    # Open loop from recorded actions, decoded by the nearest reference frame.
    h = args.horizon
    windows = WindowDataset(data_path, window=h + 1, stride=cfg.model.frame_skip, in_memory=False)
    w = windows.batch(rng.choice(len(windows), args.rollouts, replace=False))
    pred = model.rollout(model.encode(w["obs"][:, 0]), w["actions"])  # (N, h, D)
    guess = ref_tip[torch.cdist(pred[..., :half].double(), ref_z).argmin(-1)]  # (N, h, 2)
    truth = w["states"][:, 1:, :2].double()
    model_err = (guess - truth).norm(dim=-1)
    copy_err = (w["states"][:, :1, :2].double() - truth).norm(dim=-1)

    figures = {
        "run": args.run,
        "frames": args.frames,
        "probe_r2": dict(zip(("tip_x", "tip_y", "tip_vx", "tip_vy"), scores, strict=True)),
        "decode": {
            "median_m": float(decode.median()),
            "within_3cm": float((decode < 0.03).double().mean()),
            "oracle_median_m": float(oracle.median()),
        },
        "goal_landscape": {
            "goals": len(still),
            "spearman": round(float(landscape[0]), 3),
            "near_goal_cost_over_median": round(float(landscape[1]), 3),
            "speed_share": round(float(landscape[2]), 3),
        },
        "rollout": {
            "horizon": list(range(1, h + 1)),
            "model_median_m": [round(float(v), 4) for v in model_err.median(0).values],
            "copy_median_m": [round(float(v), 4) for v in copy_err.median(0).values],
            "model_within_3cm": [round(float(v), 3) for v in (model_err < 0.03).double().mean(0)],
        },
    }
    atomic_write_text(args.out, json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "rollout"}, indent=2))
    r = figures["rollout"]
    for k in (1, 2, 4, 8, 12):
        if k <= h:
            model_m, copy_m = r["model_median_m"][k - 1], r["copy_median_m"][k - 1]
            print(f"rollout h={k}: model {model_m:.3f} m, copy {copy_m:.3f} m")


if __name__ == "__main__":
    try:
        main()
    except JepalabError as e:  # one line naming the problem, exit status 2 as the CLI's
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

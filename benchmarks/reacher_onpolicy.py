"""Does a world model predict its own planner's episodes as well as its training data?

A diagnosis, not a score. The run's planning agent (its config's planner) acts in
``--episodes`` tasks whose seeds neither training nor evaluation uses (the agent bench's
experience seeds); the short-term memory keeps every step's embedding and action, as
``jepalab bench agent`` fills it. On random transitions of those episodes, and on every
transition of the run's validation episodes (the trainer's split), it reports:

- ``one_step_error``: the predictor's mean squared error of the next embedding, per
  embedding dimension (the unit of rollout tuning's held-out error);
- ``change``: the same for "nothing moves" (the next embedding taken as the current one),
  the scale the error is read against;
- ``mean_abs_action`` and ``saturated``: the mean action magnitude and the share of action
  entries over 0.9 in magnitude (Reacher's torques lie in [-1, 1]), where the planner's and
  the explorer's behaviours differ most;
- ``error_ratio``: the agent's one-step error over the dataset's.

A ratio well above 1 says the planner steers into states and actions the training data
hardly covers, where the model's predictions are worst (Reacher, session 22: 5.7).

Usage::

    python benchmarks/reacher_onpolicy.py RUN_DIR --out reacher_onpolicy.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from jepalab.data import EpisodeDataset, WindowDataset, split_episodes
from jepalab.errors import JepalabError
from jepalab.eval.agent_bench import EXPERIENCE_SEED
from jepalab.eval.evaluate import run_episodes
from jepalab.io import atomic_write_text
from jepalab.memory import ShortTermMemory
from jepalab.training import load_world_model

SATURATED = 0.9  # |action| above this counts as saturated (torques in [-1, 1])


def transition_figures(
    model, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor
) -> dict[str, float]:
    """Errors and action statistics of transitions ``(N, D), (N, A), (N, D)``."""
    pred = model.rollout(z, a[:, None])[:, 0]
    return {
        "transitions": len(z),
        "one_step_error": float((pred - z_next).pow(2).mean()),
        "change": float((z - z_next).pow(2).mean()),
        "mean_abs_action": float(a.abs().mean()),
        "saturated": float((a.abs() > SATURATED).float().mean()),
    }


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="run folder (checkpoints/ and data.h5)")
    ap.add_argument("--episodes", type=int, default=100, help="the agent's episodes")
    ap.add_argument("--transitions", type=int, default=4096, help="of those, for the figures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    model, cfg = load_world_model(args.run)
    if model.scene is not None:
        raise JepalabError(
            f"{args.run} reads a scene glimpse; this diagnosis takes models without one "
            "(model.scene_channels 0, as the Reacher and PointMaze recipes)"
        )
    cfg.out_dir = args.run  # its data.h5, unless the run named another dataset

    memory = ShortTermMemory(capacity=args.episodes * 1000)
    success: list[bool] = []
    seeds = list(range(EXPERIENCE_SEED, EXPERIENCE_SEED + args.episodes))
    for b in range(0, len(seeds), cfg.eval.batch_envs):
        batch = seeds[b : b + cfg.eval.batch_envs]
        success += run_episodes(model, cfg, batch, memory=memory).success
        print(f"agent: {len(success)} episodes", file=sys.stderr)
    gen = torch.Generator().manual_seed(args.seed)
    t = memory.sample(args.transitions, gen)
    agent = transition_figures(model, t.state, t.action, t.next_state)

    with EpisodeDataset(cfg.data_path) as ds:
        _, val_ids = split_episodes(ds.num_episodes, cfg.data.val_fraction, cfg.train.seed)
    pairs = WindowDataset(cfg.data_path, 2, val_ids, stride=cfg.model.frame_skip)
    w = pairs.batch(list(range(len(pairs))))
    frames = w["obs"].flatten(0, 1)  # (2N, H, W, C)
    z = torch.cat([model.encode(frames[i : i + 1000]) for i in range(0, len(frames), 1000)])
    z = z.view(len(pairs), 2, -1)
    dataset = transition_figures(model, z[:, 0], w["actions"][:, 0], z[:, 1])

    result = {
        "run": args.run,
        "episodes": args.episodes,
        "agent_success": float(np.mean(success)),
        "agent": agent,
        "dataset": dataset,
        "error_ratio": agent["one_step_error"] / dataset["one_step_error"],
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    try:
        main()
    except JepalabError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

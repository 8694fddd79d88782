"""Does a video model expect a body hidden behind the screen to come out again?

``vanish_occluded`` pairs (a body goes behind a screen; in the impossible clip it is not
there when it should come out) are the violation the benchmark's models miss most. A
model that expects the body back is surprised when nothing comes out; one that has
forgotten it predicts the still scene, which the impossible clip then matches. On such
pairs (validation seeds by default, never the benchmark's test seeds) this reports, for
the frames from the violation frame (where the possible clip first shows the body again)
to two frames after it:

- ``impossible_at_violation`` / ``possible_at_violation``: the median over pairs of each
  clip's largest surprise there, in units of the median surprise of the possible clips'
  predicted frames (a plausible frame's level). Near 0 for the impossible clip: nothing
  was expected;
- ``expects_back``: the share of pairs whose impossible clip's surprise there is above a
  plausible frame's median;
- ``right_at_violation``: the share where the impossible clip is the more surprising there;
- ``pair_accuracy``: the benchmark's pair accuracy on these pairs (whole clips).

Usage::

    python benchmarks/surprise_hidden.py RUN_OR_CHECKPOINT --out surprise_hidden.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from jepalab.config import VALIDATION_SEED
from jepalab.envs.violations import make_pair
from jepalab.eval.surprise import frame_surprise, more_surprising
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model

WINDOW = 3  # the violation frame and the two after it


def at_violation(surprise: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Per-frame surprise ``(N, T)`` -> each clip's largest in its violation window."""
    return np.array([row[f : f + WINDOW].max() for row, f in zip(surprise, frame, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA or pixel-twin checkpoint or run folder")
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="validation seeds by default")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error(f"--pairs must be at least 1, got {args.pairs}")
    torch.set_num_threads(2)

    model, meta = load_video_model(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    made = [make_pair("vanish_occluded", rng, size=model.frame_shape[0]) for _ in range(args.pairs)]
    possible, impossible, frame = (np.stack(x) for x in zip(*made, strict=True))
    e_pos = frame_surprise(model, possible, meta["spatial"])
    e_imp = frame_surprise(model, impossible, meta["spatial"])
    k = model.context
    level = float(np.median(e_pos[:, k:]))
    imp, pos = at_violation(e_imp, frame) / level, at_violation(e_pos, frame) / level
    figures = {
        "checkpoint": args.checkpoint,
        "pairs": args.pairs,
        "seed": args.seed,
        "impossible_at_violation": float(np.median(imp)),
        "possible_at_violation": float(np.median(pos)),
        "expects_back": float((imp > 1).mean()),
        "right_at_violation": float((imp > pos).mean()),
        "pair_accuracy": float(more_surprising(e_imp, e_pos, k, "max").mean()),
    }
    atomic_write_text(args.out, json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Where does a video model lose intuitive-physics pairs: before the violation or after it?

The two clips of a pair are identical up to the violation frame, so the clip score (the
maximum surprise over the predicted frames) ties whenever both peaks lie in that shared
prefix; the benchmark then lets the mean decide (``eval.surprise.more_surprising``). On
the benchmark's pairs (200 per type, eval seed 1,000,000, training style) this reports,
overall and per variant:

- ``right``: the pair accuracy of the benchmark (peaks, ties broken by the mean);
- ``peak_in_prefix``: the impossible clip's peak lies before the violation frame;
- ``tie``: both clip scores are equal;
- ``right_after_violation``: the accuracy if both clips were scored only from the
  violation frame on. A diagnosis, not a score: it needs the violation frame, which a real
  surprise score cannot know.

Usage::

    python benchmarks/surprise_prefix.py RUN_OR_CHECKPOINT --out surprise_prefix.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from jepalab.envs.violations import make_pairs
from jepalab.eval.surprise import clip_scores, frame_surprise, mean_by, more_surprising
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model, saved_video_config


def after(surprise: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Per-frame surprise ``(N, T)`` -> each clip's maximum from its violation frame on."""
    return np.array([row[f:].max() for row, f in zip(surprise, frame, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA or pixel-twin checkpoint or run folder")
    ap.add_argument("--pairs-per-type", type=int, default=200)
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)

    model, meta = load_video_model(args.checkpoint)
    seed = saved_video_config(meta).eval.seed  # the benchmark's pairs
    pairs = make_pairs(args.pairs_per_type, seed, size=model.frame_shape[0])
    e_pos = frame_surprise(model, pairs.possible, meta["spatial"])
    e_imp = frame_surprise(model, pairs.impossible, meta["spatial"])
    k = model.context
    s_pos, s_imp = clip_scores(e_pos, k, "max"), clip_scores(e_imp, k, "max")
    rows = {
        "right": more_surprising(e_imp, e_pos, k, "max"),
        "peak_in_prefix": e_imp[:, k:].argmax(1) + k < pairs.frame,
        "tie": s_imp == s_pos,
        "right_after_violation": after(e_imp, pairs.frame) > after(e_pos, pairs.frame),
    }
    figures = {
        "checkpoint": args.checkpoint,
        "pairs": len(pairs.frame),
        **{name: float(v.mean()) for name, v in rows.items()},
        "by_variant": {name: mean_by(v, pairs.variant) for name, v in rows.items()},
    }
    atomic_write_text(args.out, json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "by_variant"}, indent=2))


if __name__ == "__main__":
    main()

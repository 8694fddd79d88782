"""Surprise from both directions of time: is an event surprising seen forwards and backwards?

The physics world's laws are the same run backwards (gravity, elastic bounces and
collisions), so a clip played in reverse is a plausible clip too and a model trained
forwards predicts it as well. A hidden body is not: coming out from behind the screen is
hard to predict forwards and easy backwards (there it goes in). This scores each
transition from frame ``t - 1`` to ``t`` by the forward surprise at ``t`` and the surprise
of the reversed clip at ``t - 1`` (a jump of position shows there) or, with ``lag 1-2``,
the larger of those at ``t - 1`` and ``t - 2`` (a kink of the path, a change of velocity,
shows one frame earlier backwards), combined by their minimum or their mean. Where the
reversed clip has no prediction (its first ``context`` frames, the clip's last), the
forward surprise alone counts. No retraining; clip score, ties and figures as the
benchmark's. Validation pairs (seed 2,000,000 and, unseen style, 2,000,001), never the
test seeds. About 2 min at 100 pairs per type.

Usage::

    python benchmarks/surprise_two_way.py RUN_OR_CHECKPOINT --out surprise_two_way.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from jepalab.config import VALIDATION_SEED
from jepalab.envs.physics import TRAIN_STYLE, UNSEEN_STYLE
from jepalab.envs.violations import make_pairs
from jepalab.eval.surprise import frame_surprise, pair_figures
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model
from jepalab.world_model.video_jepa import VideoJEPA

LAGS = {"lag 1": (1,), "lag 1-2": (1, 2)}


def backward(model: VideoJEPA, clips: np.ndarray, spatial: str) -> np.ndarray:
    """Clips ``(N, T, H, W, 3)`` -> the reversed clips' surprise at each original frame
    ``(N, T)``, NaN where the reversed clip is still in its context (the last frames)."""
    rev = frame_surprise(model, np.ascontiguousarray(clips[:, ::-1]), spatial)[:, ::-1].copy()
    rev[:, rev.shape[1] - model.context :] = np.nan
    return rev


def combined(
    fwd: np.ndarray, bwd: np.ndarray, lags: tuple[int, ...], how: str, k: int
) -> np.ndarray:
    """Per-transition surprise ``(N, T)`` from forward ``fwd`` and backward ``bwd``."""
    shifted = np.full_like(bwd, np.nan)
    for lag in lags:
        moved = np.full_like(bwd, np.nan)
        moved[:, lag:] = bwd[:, :-lag]
        shifted = np.fmax(shifted, moved)
    both = np.minimum(fwd, shifted) if how == "min" else (fwd + shifted) / 2
    out = np.where(np.isnan(shifted), fwd, both)
    out[:, :k] = 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA or pixel-twin checkpoint or run folder")
    ap.add_argument("--pairs-per-type", type=int, default=100)
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)

    model, meta = load_video_model(args.checkpoint)
    spatial, k, size = meta["spatial"], model.context, model.frame_shape[0]
    figures: dict = {"checkpoint": args.checkpoint, "spatial": spatial, "scores": {}}
    for style_name, seed, style in (
        ("seen", VALIDATION_SEED, TRAIN_STYLE),
        ("unseen", VALIDATION_SEED + 1, UNSEEN_STYLE),
    ):
        pairs = make_pairs(args.pairs_per_type, seed, style, size=size)
        clips = {c: getattr(pairs, c) for c in ("possible", "impossible")}
        fwd = {c: frame_surprise(model, x, spatial) for c, x in clips.items()}
        bwd = {c: backward(model, x, spatial) for c, x in clips.items()}
        ways = {"forward": fwd}
        for lag_name, lags in LAGS.items():
            for how in ("min", "mean"):
                ways[f"{how}, {lag_name}"] = {
                    c: combined(fwd[c], bwd[c], lags, how, k) for c in fwd
                }
        for name, e in ways.items():
            f = pair_figures(e["impossible"], e["possible"], pairs, k)
            row = figures["scores"].setdefault(name, {})
            if style_name == "seen":
                row.update(
                    pair_accuracy=f["pair_accuracy"],
                    auroc=f["auroc"],
                    localization_rate=f["localization_rate"],
                    pair_accuracy_by_type=f["pair_accuracy_by_type"],
                    pair_accuracy_by_variant=f["pair_accuracy_by_variant"],
                )
            else:
                row["unseen_style_pair_accuracy"] = f["pair_accuracy"]
        figures[f"{style_name}_pairs"] = len(pairs.frame)
    for name, row in figures["scores"].items():
        flat = {m: round(v, 3) for m, v in row.items() if not isinstance(v, dict)}
        print(name, flat, flush=True)
    atomic_write_text(args.out, json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

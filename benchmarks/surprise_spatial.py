"""How should a frame's error map become one surprise? Each ``video.spatial`` on validation pairs.

Scores a video JEPA or pixel twin with every spatial reduction the library offers
(``sum``, ``max``, ``region``; clip score the maximum over frames, ties decided by the
mean, as the benchmark does) on validation pairs: seed 2,000,000 in the training style and
2,000,001 in the unseen style, never the benchmark's test seeds (1,000,000 and 1,000,001),
so that a choice made here is not fitted to the test. Reports per reduction: pair
accuracy, AUROC, localisation, the unseen style's pair accuracy and AUROC, and the pair
accuracy per variant. About 2 min at 100 pairs per type (one pass of the model).

Usage::

    python benchmarks/surprise_spatial.py RUN_OR_CHECKPOINT --out surprise_spatial.json
"""

from __future__ import annotations

import argparse
import json

import torch

from jepalab.config import VALIDATION_SEED
from jepalab.envs.physics import TRAIN_STYLE, UNSEEN_STYLE
from jepalab.envs.violations import make_pairs
from jepalab.eval.surprise import frame_surprises, pair_figures
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model
from jepalab.world_model.video_jepa import SPATIAL


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA or pixel-twin checkpoint or run folder")
    ap.add_argument("--pairs-per-type", type=int, default=100)
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(2)

    model, _ = load_video_model(args.checkpoint)
    size = model.frame_shape[0]
    seen = make_pairs(args.pairs_per_type, VALIDATION_SEED, TRAIN_STYLE, size=size)
    unseen = make_pairs(args.pairs_per_type, VALIDATION_SEED + 1, UNSEEN_STYLE, size=size)
    # One pass of the model per clip set; each reduction reads the same error maps.
    surprise = {
        (name, clips): frame_surprises(model, getattr(pairs, clips), SPATIAL)
        for name, pairs in (("seen", seen), ("unseen", unseen))
        for clips in ("possible", "impossible")
    }
    figures: dict = {"checkpoint": args.checkpoint, "pairs": len(seen.frame), "spatial": {}}
    for spatial in SPATIAL:
        s, u = (
            pair_figures(
                surprise[name, "impossible"][spatial],
                surprise[name, "possible"][spatial],
                pairs,
                model.context,
            )
            for name, pairs in (("seen", seen), ("unseen", unseen))
        )
        figures["spatial"][spatial] = {
            "pair_accuracy": s["pair_accuracy"],
            "auroc": s["auroc"],
            "localization_rate": s["localization_rate"],
            "unseen_style_pair_accuracy": u["pair_accuracy"],
            "unseen_style_auroc": u["auroc"],
            "pair_accuracy_by_variant": s["pair_accuracy_by_variant"],
        }
        row = figures["spatial"][spatial].items()
        print(spatial, {k: round(v, 3) for k, v in row if not isinstance(v, dict)}, flush=True)
    atomic_write_text(args.out, json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

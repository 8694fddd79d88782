"""``jepalab bench intuitive-physics``: is the video JEPA surprised by the impossible?

Trains (or loads) the video JEPA and its pixel-space twin on the same plausible clips,
then scores both on matched possible/impossible pairs of every violation type, rendered
in the training style and in an unseen style (object sizes and colours never trained on).
Writes ``<out_dir>/metrics.json`` and ``<out_dir>/surprise_examples.png``.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..envs.physics import TRAIN_STYLE, UNSEEN_STYLE
from ..envs.violations import Pairs, make_pairs
from ..io import atomic_write_text
from ..pipeline import machine
from ..training import run_summary
from ..training.video_trainer import VideoTrainer, check_video_config, load_video_model
from ..world_model.video_jepa import VideoJEPA
from .plots import plot_surprise_pairs
from .surprise import frame_surprise, score_pairs

UNSEEN_SEED_OFFSET = 1  # unseen-style pairs use eval.seed + 1


def bench_config() -> RunConfig:
    """The reference recipe: 3000 clips of 12 frames (each 0-8 frames into its scene, half
    of them drawn to show two bodies colliding), stride-1 maps of 16 channels from a
    per-pixel encoder, the recurrent predictor of width 48, EMA target (VICReg on patch
    vectors pulls the encoder away faster than the predictor can follow), batch 4, 4500
    steps at lr 2e-3 (12-15 minutes per model on 2 CPU cores: at equal time, four times
    the steps at a quarter of the batch learn much faster), 200 pairs per violation type."""
    cfg = RunConfig(out_dir="runs/bench-intuitive-physics")
    cfg.objective.name = "ema"
    cfg.objective.ema_momentum = 0.998
    cfg.train.steps = 4500
    cfg.train.batch_size = 4
    cfg.train.lr = 2e-3
    cfg.train.warmup_steps = 200
    cfg.train.ckpt_every = 2000
    return cfg


def model_figures(model: VideoJEPA, cfg: RunConfig, pairs: Pairs, unseen: Pairs) -> dict:
    """Pair accuracy, AUROC and localisation on both styles for one model."""
    v = cfg.video
    seen = score_pairs(model, pairs, v.spatial, v.temporal)
    other = score_pairs(model, unseen, v.spatial, v.temporal)
    return {
        **seen,
        "unseen_style_pair_accuracy": other["pair_accuracy"],
        "unseen_style_pair_accuracy_by_type": other["pair_accuracy_by_type"],
        "unseen_style_auroc": other["auroc"],
    }


def _train(cfg: RunConfig, target: str, progress: bool) -> tuple[VideoJEPA, float]:
    result = VideoTrainer(cfg, target).fit(progress=progress)
    return result.model, result.train_seconds


def run_bench(
    cfg: RunConfig,
    checkpoint: str | Path | None = None,
    baseline_checkpoint: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train or load both models, score them, write ``metrics.json``; returns the figures.

    The pixel twin trains in ``<out_dir>/pixel`` unless ``video.baseline`` is false or
    ``baseline_checkpoint`` is given."""
    check_video_config(cfg.video)
    v, out = cfg.video, Path(cfg.out_dir)
    t0 = time.perf_counter()
    if checkpoint:
        model, _ = load_video_model(checkpoint)
        # Trained before: its time is in its run's summary when a bench trained it.
        train_seconds = run_summary(checkpoint).get("train_seconds")
    else:
        model, train_seconds = _train(cfg, "embedding", progress)

    pairs = make_pairs(v.pairs_per_type, cfg.eval.seed, TRAIN_STYLE, size=v.frame_size)
    unseen = make_pairs(
        v.pairs_per_type, cfg.eval.seed + UNSEEN_SEED_OFFSET, UNSEEN_STYLE, size=v.frame_size
    )
    figures: dict[str, Any] = {
        "benchmark": "intuitive-physics",
        "predictor": model.predictor.kind,
        **model_figures(model, cfg, pairs, unseen),
        "train_seconds": train_seconds,
    }
    if baseline_checkpoint or v.baseline:
        if baseline_checkpoint:
            pixel, _ = load_video_model(baseline_checkpoint)
            pixel_seconds = None
        else:
            pix_cfg = copy.deepcopy(cfg)
            pix_cfg.out_dir = str(out / "pixel")
            pixel, pixel_seconds = _train(pix_cfg, "pixels", progress)
        figures["baseline"] = {
            "model": "pixel prediction (same encoder and predictor, decoder to pixels)",
            **model_figures(pixel, cfg, pairs, unseen),
            "train_seconds": pixel_seconds,
        }
    figures.update(
        spatial=v.spatial,
        temporal=v.temporal,
        pairs_per_type=v.pairs_per_type,
        seconds=time.perf_counter() - t0,
        machine=machine(),
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(figures, indent=2))
    _plot_examples(model, cfg, pairs, out / "surprise_examples.png")
    return figures


def _plot_examples(model: VideoJEPA, cfg: RunConfig, pairs: Pairs, path: Path) -> None:
    """One pair of every violation type: both surprise curves, the violation frame marked."""
    first = [int(np.flatnonzero(pairs.kind == k)[0]) for k in dict.fromkeys(pairs.kind)]
    sub = Pairs(*(getattr(pairs, f)[first] for f in Pairs.__dataclass_fields__))
    e_pos = frame_surprise(model, sub.possible, cfg.video.spatial)
    e_imp = frame_surprise(model, sub.impossible, cfg.video.spatial)
    plot_surprise_pairs(sub, e_pos, e_imp, path)

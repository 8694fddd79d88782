"""Pictures a person would rather look at than read: training curves and episode GIFs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import atomic_path

CURVES = (
    ("loss", "total loss"),
    ("pred", "prediction"),
    ("reg", "anti-collapse"),
    ("idm", "inverse dynamics"),
    ("eff_rank", "effective rank"),
    ("std_mean", "per-dim std"),
)


def plot_training_curves(metrics_jsonl: Path, out_png: Path) -> Path | None:
    """Plot the scalars of a run's ``metrics.jsonl``; returns the PNG path (None if no log)."""
    if not metrics_jsonl.exists():
        return None
    rows = [json.loads(ln) for ln in metrics_jsonl.read_text().splitlines() if ln.strip()]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [(k, title) for k, title in CURVES if k in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
    steps = [r["step"] for r in rows]
    for ax, (k, title) in zip(np.atleast_1d(axes), keys, strict=True):
        ax.plot(steps, [r[k] for r in rows])
        ax.set_title(title)
        ax.set_xlabel("step")
        if k in ("loss", "pred", "idm"):
            ax.set_yscale("log")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out_png


def episode_frame(obs: np.ndarray, goal: np.ndarray, scale: int = 4) -> np.ndarray:
    """Side-by-side ``[observation | goal]`` image, upscaled. ``(H, W, C)`` uint8 each."""
    gap = np.full((obs.shape[0], 2, 3), 255, np.uint8)
    frame = np.concatenate([obs, gap, goal], axis=1)
    return frame.repeat(scale, 0).repeat(scale, 1)


def write_gif(frames: list[np.ndarray], path: Path, fps: int = 10) -> Path:
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 // fps, loop=0)
    return path

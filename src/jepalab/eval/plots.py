"""Pictures a person would rather look at than read: training curves, episode GIFs and
surprise curves."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    plt = _pyplot()
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


def episode_frame(
    obs: np.ndarray,
    goal: np.ndarray,
    scale: int = 4,
    marks: Sequence[tuple[float, float, tuple[int, int, int]]] = (),
) -> np.ndarray:
    """Side-by-side ``[observation | goal]`` image, upscaled. ``(H, W, C)`` uint8 each.

    ``marks``: ``(x, y, rgb)`` points in observation pixels, drawn as small crosses on the
    observation (e.g. decoded subgoals). Stacked frames ``(H, W, 3k)`` show the last one."""
    obs, goal = obs[..., -3:], goal[..., -3:]
    gap = np.full((obs.shape[0], 2, 3), 255, np.uint8)
    frame = np.concatenate([obs, gap, goal], axis=1)
    frame = frame.repeat(scale, 0).repeat(scale, 1)
    h, w = obs.shape[0] * scale, obs.shape[1] * scale
    for x, y, rgb in marks:
        cx, cy = round((x + 0.5) * scale), round((y + 0.5) * scale)
        if 0 <= cx < w and 0 <= cy < h:
            arm = scale
            frame[cy, max(cx - arm, 0) : min(cx + arm + 1, w)] = rgb
            frame[max(cy - arm, 0) : min(cy + arm + 1, h), cx] = rgb
    return frame


def write_gif(frames: list[np.ndarray], path: Path, fps: int = 10) -> Path:
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 // fps, loop=0)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_surprise_pairs(
    pairs, e_possible: np.ndarray, e_impossible: np.ndarray, path: Path
) -> Path:
    """One row per pair: the impossible clip's frames from the violation on, and both
    surprise curves ``(T,)`` with the violation frame marked."""
    plt = _pyplot()
    n = len(pairs.kind)
    fig, axes = plt.subplots(
        n, 2, figsize=(10, 1.6 * n), squeeze=False, gridspec_kw={"width_ratios": [3, 2]}
    )
    for i in range(n):
        t0 = int(pairs.frame[i])
        strip = [pairs.possible[i, t0 - 1], *pairs.impossible[i, t0 - 1 : t0 + 5]]
        gap = np.full((strip[0].shape[0], 2, 3), 255, np.uint8)
        img = np.concatenate([x for f in strip for x in (f, gap)][:-1], axis=1)
        axes[i, 0].imshow(img)
        axes[i, 0].set_axis_off()
        axes[i, 0].set_title(f"{pairs.kind[i]} / {pairs.variant[i]}: frames {t0 - 1}..", fontsize=8)
        ax = axes[i, 1]
        ax.plot(e_possible[i], label="possible")
        ax.plot(e_impossible[i], label="impossible")
        ax.axvline(t0, color="k", ls=":", lw=1)
        ax.tick_params(labelsize=7)
    axes[0, 1].legend(fontsize=7)
    axes[-1, 1].set_xlabel("frame")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def plot_surprise_video(
    thumbs: np.ndarray,
    thumb_index: np.ndarray,
    surprise: np.ndarray,
    threshold: float,
    path: Path,
    title: str = "",
) -> Path:
    """A strip of frames ``(m, h, w, 3)`` taken at ``thumb_index`` over the surprise curve
    ``(T,)`` with the flag threshold and flagged frames."""
    plt = _pyplot()
    fig, (top, ax) = plt.subplots(2, 1, figsize=(10, 4), gridspec_kw={"height_ratios": [1, 2]})
    gap = np.full((thumbs.shape[1], 2, 3), 255, np.uint8)
    top.imshow(np.concatenate([x for f in thumbs for x in (f, gap)][:-1], axis=1))
    top.set_axis_off()
    top.set_title(title + "  frames " + ", ".join(str(int(i)) for i in thumb_index), fontsize=8)
    t = np.arange(len(surprise))
    ax.plot(t, surprise, lw=1)
    ax.axhline(threshold, color="r", ls="--", lw=1, label="flag threshold")
    flagged = surprise > threshold
    ax.scatter(t[flagged], surprise[flagged], color="r", s=12, zorder=3, label="flagged")
    ax.set_xlabel("frame")
    ax.set_ylabel("surprise")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path

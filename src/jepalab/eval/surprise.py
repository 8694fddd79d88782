"""Surprise: per-frame prediction energy of a video model, and how well it flags the impossible.

* :func:`frame_surprise` — clips ``(N, T, H, W, 3)`` -> per-frame surprise ``(N, T)``;
  :func:`frame_surprises` the same under several spatial reductions from one pass.
* :func:`score_pairs` — on matched possible/impossible pairs: pairwise relative accuracy
  (the impossible clip is the more surprising one, :func:`more_surprising`), single-clip
  detection AUROC, and localisation (the impossible clip's surprise peak within 2 frames
  of the violation); :func:`pair_figures` the same from per-frame surprise already
  computed.
* :func:`stream_surprise` — per-frame surprise of a video of any length, chunk by chunk;
  :func:`surprise_report` writes it as CSV and a plot and lists the flagged moments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.video import resize_frames
from ..envs.violations import Pairs
from ..errors import DataError, JepalabError
from ..io import atomic_path
from ..world_model.video_jepa import VideoJEPA

TEMPORAL = ("max", "mean")
LOCALIZATION_FRAMES = 2  # a peak this close to the violation frame counts as localised


@torch.no_grad()
def frame_surprises(
    model: VideoJEPA, clips: torch.Tensor | np.ndarray, spatial: tuple[str, ...], batch: int = 64
) -> dict[str, np.ndarray]:
    """uint8 clips ``(N, T, H, W, 3)`` -> per-frame surprise ``(N, T)`` (0 in the context)
    under each ``spatial`` reduction, from one pass of the model: its error maps, computed
    on the model's device batch by batch, are reduced each way."""
    clips = torch.as_tensor(clips)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {s: [] for s in spatial}
    for i in range(0, len(clips), batch):
        e, _ = model.error_maps(clips[i : i + batch].to(device))
        for s in spatial:
            out[s].append(model.reduce(e, s).cpu())
    model.train(was_training)
    return {s: torch.cat(v).numpy() for s, v in out.items()}


def frame_surprise(
    model: VideoJEPA, clips: torch.Tensor | np.ndarray, spatial: str, batch: int = 64
) -> np.ndarray:
    """uint8 clips ``(N, T, H, W, 3)`` -> per-frame surprise ``(N, T)`` (0 in the context)."""
    return frame_surprises(model, clips, (spatial,), batch)[spatial]


def calibrate_threshold(
    model: VideoJEPA, clips: torch.Tensor | np.ndarray, spatial: str, percentile: float
) -> float:
    """The ``percentile`` of per-frame surprise over the predicted frames of plausible clips."""
    e = frame_surprise(model, clips, spatial)[:, model.context :]
    return float(np.percentile(e, percentile))


def clip_scores(surprise: np.ndarray, context: int, temporal: str) -> np.ndarray:
    """Per-frame surprise ``(N, T)`` -> one score per clip ``(N,)``: the ``max`` or ``mean``
    over the predicted frames."""
    if temporal not in TEMPORAL:
        raise JepalabError(f"unknown temporal aggregation '{temporal}'; choose from {TEMPORAL}")
    e = surprise[:, context:]
    return e.max(1) if temporal == "max" else e.mean(1)


def more_surprising(a: np.ndarray, b: np.ndarray, context: int, temporal: str) -> np.ndarray:
    """Per-frame surprise of matched clips ``(N, T)`` -> ``(N,)`` bool: clip ``a`` of each
    pair is the more surprising one.

    The clip scores (``temporal``) decide; where they tie, the other aggregation does (the
    mean for ``max``, the max for ``mean``). The two clips of a pair are identical up to
    the violation, so when the peak lies in that shared prefix (a hard bounce before
    anything differs) the peaks are exactly equal and say nothing about what follows; the
    mean then weighs what does differ. A tie in both is not a win."""
    sa, sb = clip_scores(a, context, temporal), clip_scores(b, context, temporal)
    other = "mean" if temporal == "max" else "max"
    oa, ob = clip_scores(a, context, other), clip_scores(b, context, other)
    return (sa > sb) | ((sa == sb) & (oa > ob))


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half).

    Compares every pair directly (``len(positive) * len(negative)`` booleans): exact and
    plain, and cheap at benchmark sizes."""
    pos, neg = np.asarray(positive, float)[:, None], np.asarray(negative, float)[None]
    if pos.size == 0 or neg.size == 0:
        raise JepalabError("AUROC needs at least one positive and one negative score")
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def score_pairs(
    model: VideoJEPA, pairs: Pairs, spatial: str = "max", temporal: str = "max"
) -> dict:
    """Surprise figures on matched pairs (see :func:`pair_figures`)."""
    e_pos = frame_surprise(model, pairs.possible, spatial)
    e_imp = frame_surprise(model, pairs.impossible, spatial)
    return pair_figures(e_imp, e_pos, pairs, model.context, temporal)


def pair_figures(
    e_imp: np.ndarray, e_pos: np.ndarray, pairs: Pairs, context: int, temporal: str = "max"
) -> dict:
    """Per-frame surprise of the impossible and possible clips of ``pairs`` ``(N, T)`` ->
    ``pair_accuracy``, ``pair_accuracy_by_type``, ``pair_accuracy_by_variant``, ``auroc``,
    ``localization_rate``, ``localization_by_type``, ``pairs``."""
    s_pos = clip_scores(e_pos, context, temporal)
    s_imp = clip_scores(e_imp, context, temporal)
    right = more_surprising(e_imp, e_pos, context, temporal)
    peak = e_imp[:, context:].argmax(1) + context
    localised = np.abs(peak - pairs.frame) <= LOCALIZATION_FRAMES
    return {
        "pair_accuracy": float(right.mean()),
        "pair_accuracy_by_type": mean_by(right, pairs.kind),
        "pair_accuracy_by_variant": mean_by(right, pairs.variant),
        "auroc": auroc(s_imp, s_pos),
        "localization_rate": float(localised.mean()),
        "localization_by_type": mean_by(localised, pairs.kind),
        "pairs": len(right),
    }


def mean_by(values: np.ndarray, keys: np.ndarray) -> dict[str, float]:
    """The mean of ``values`` over each distinct key: ``{key: mean}``."""
    return {str(k): float(values[keys == k].mean()) for k in np.unique(keys)}


@torch.no_grad()
def stream_surprise(
    model: VideoJEPA, chunks: Iterable[np.ndarray], spatial: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per-frame surprise of a video given as chunks of uint8 frames ``(n, H, W, 3)``.

    Yields ``(surprise (n,), frames (n, h, w, 3))`` per chunk, frames resized to the
    model's input; the first ``context`` frames of the video get surprise 0. The last
    ``context`` frames and the predictor's memory of those before them are carried between
    chunks, so memory does not grow with length and the surprise is the whole video's.
    """
    model.eval()
    k = model.context
    carry = torch.zeros(0, *model.frame_shape, dtype=torch.uint8)
    memory = None
    for chunk in chunks:
        frames = resize_frames(chunk, model.frame_shape)
        window = torch.cat([carry, frames])
        if len(window) > k:  # the video's first `context` frames get 0
            e, memory = model.energy_after(memory, window[None], spatial)
            e = e[0, -len(frames) :]
        else:
            e = torch.zeros(len(frames))
        carry = window[-k:]
        yield e.numpy(), frames.numpy()


@dataclass
class SurpriseReport:
    """What ``jepalab surprise`` found in one video."""

    frames: int
    threshold: float
    moments: list[dict]  # flagged runs: first, last, peak frame and peak surprise
    csv: Path
    plot: Path


class _Thumbnails:
    """Evenly spaced frames of a stream of unknown length, at most ``2 * keep`` held: when
    full, every other one is dropped and the spacing doubles."""

    def __init__(self, keep: int = 8) -> None:
        self.keep, self.every, self.items = keep, 1, []

    def add(self, index: int, frame: np.ndarray) -> None:
        if index % self.every:
            return
        self.items.append((index, frame.copy()))
        if len(self.items) >= 2 * self.keep:
            self.every *= 2
            self.items = [(i, f) for i, f in self.items if i % self.every == 0]


def flagged_moments(surprise: np.ndarray, threshold: float) -> list[dict]:
    """Runs of consecutive frames above ``threshold`` -> ``[{first, last, peak, surprise}]``."""
    above = np.r_[False, surprise > threshold, False].astype(int)
    starts, ends = np.flatnonzero(np.diff(above) == 1), np.flatnonzero(np.diff(above) == -1)
    moments = []
    for a, b in zip(starts, ends, strict=True):
        peak = a + int(surprise[a:b].argmax())
        moments.append(
            {"first": int(a), "last": int(b - 1), "peak": peak, "surprise": float(surprise[peak])}
        )
    return moments


def surprise_report(
    video: str | Path,
    model: VideoJEPA,
    threshold: float,
    spatial: str,
    out_dir: str | Path,
    chunk: int = 256,
) -> SurpriseReport:
    """Stream ``video`` through ``model``; write ``surprise.csv`` (frame, surprise, flagged)
    and ``surprise.png`` (frames strip and curve) to ``out_dir``. Memory stays bounded: the
    per-frame surprise (one float per frame) is all that is kept besides a few thumbnails."""
    from ..data.video import iter_video
    from .plots import plot_surprise_video

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "surprise.csv", out / "surprise.png"
    values, thumbs, n = [], _Thumbnails(), 0
    with atomic_path(csv_path) as tmp, open(tmp, "w") as f:
        f.write("frame,surprise,flagged\n")
        for e, frames in stream_surprise(model, iter_video(video, chunk), spatial):
            for j, (value, frame) in enumerate(zip(e, frames, strict=True)):
                f.write(f"{n + j},{value:.6g},{int(value > threshold)}\n")
                thumbs.add(n + j, frame)
            values.append(e)
            n += len(e)
        if n <= model.context:
            raise DataError(
                f"{video} has {n} frame(s); surprise needs more than {model.context} "
                "(the model's context)"
            )
    surprise = np.concatenate(values)
    index = np.array([i for i, _ in thumbs.items])
    plot_surprise_video(
        np.stack([f for _, f in thumbs.items]),
        index,
        surprise,
        threshold,
        png_path,
        Path(video).name,
    )
    return SurpriseReport(n, threshold, flagged_moments(surprise, threshold), csv_path, png_path)

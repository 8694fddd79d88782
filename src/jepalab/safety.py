"""Knowing when not to act: the agent's safety gate.

A world model is only worth planning with in the world it learned. The gate answers two
questions, each against a threshold calibrated on training-like data (held-out episodes of
the dataset the world model was trained on), and the agent abstains where either says no:

- **Is this situation familiar?** (epistemic uncertainty, checked on the first
  observation of a task and on its goal.) The *novelty* of an observation is the distance
  of its features to the nearest of a bank of training observations' features (deep
  nearest neighbours, Sun et al. 2022). The features are the scene map the predictor reads
  (average-pooled 2x), or the embedding for a model without one: the scene map sees the
  whole layout, so a second door or a thicker wall, which barely move the agent's
  embedding, stand out in it. On Two-Rooms (benchmarks/ood_signals.py, then the real
  shifted worlds) a Mahalanobis distance on the embedding caught inverted colours and a
  thick border but only 4% of two-door layouts; nearest neighbours on the scene map
  caught all three at 1% false alarms. :meth:`SafetyGate.fit` sets its threshold on
  held-out exploration frames; :meth:`SafetyGate.calibrate_novelty` resets it on the tasks
  the agent met in familiar worlds (each task's higher novelty of start and goal): a task is
  two observations, and goals lie where exploration seldom goes, so the per-frame threshold
  turned down 4.5% of ordinary Two-Rooms tasks (2% after; the shifted worlds' tasks lie
  1.6x to 40x beyond either threshold).
- **Is the world behaving as predicted?** (surprise, checked at every decision.) The
  mean prediction energy of the last :data:`SURPRISE_WINDOW` steps,
  ``|Pred(z_prev, a_prev) - Enc(x)|^2``; a world that keeps doing what the model thinks
  impossible (the agent walks through a wall) keeps it high. :meth:`SafetyGate.fit` sets
  its threshold on exploration data; :meth:`SafetyGate.calibrate_surprise` resets it on the
  agent's own episodes in familiar worlds, which is what it should be: a planner pressing
  into a wall mispredicts the contact more often than exploration does (on Two-Rooms its
  steps' p99 energy is 4x exploration's), and with the exploration threshold the gate
  abstained in 16% of ordinary episodes. It calibrates on each episode's *peak*: the gate
  is asked at every decision, so a quantile of single windows says little about how
  often an ordinary episode trips it.

Shapes: ``E`` environments, ``F`` feature size, ``B`` bank size, ``D`` embedding size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import EpisodeDataset, WindowDataset, split_episodes
from .errors import CheckpointError, JepalabError
from .training.checkpoint import read_checkpoint, save_checkpoint
from .world_model import WorldModel

GATE_KIND = "safety-gate"
SURPRISE_WINDOW = 4  # decisions whose mean prediction energy the surprise test reads

UNFAMILIAR = (
    "unfamiliar situation: novelty {score:.3g} > {threshold:.3g} (the {what} looks unlike "
    "anything in the training data; the world model cannot be trusted here)"
)
SURPRISED = (
    "surprised: mean prediction energy of the last {window} steps {score:.3g} > "
    "{threshold:.3g} (the world keeps doing what the model did not predict; it does not "
    "know this world)"
)


Encoded = tuple[torch.Tensor, torch.Tensor | None]
"""The ``(E, D)`` embeddings and ``(E, C, h, w)`` scene maps (or None) of observations."""


def novelty_features(
    model: WorldModel, images: torch.Tensor, encoded: Encoded | None = None
) -> torch.Tensor:
    """uint8 ``(E, H, W, C)`` -> ``(E, F)``: the pooled scene map, or the embedding for a
    model without one; from ``encoded`` when the caller has computed it already."""
    if encoded is not None:
        z, scene = encoded
    else:
        z, scene = None, model.scene_map(images)
    if scene is None:
        return z if z is not None else model.encode(images)
    return F.avg_pool2d(scene, 2).flatten(1)


@dataclass
class SafetyGate:
    """The calibrated tests; :meth:`fit` builds one for a world model.

    Attributes:
        bank: ``(B, F)`` features of training observations.
        novelty_threshold: novelty above which a situation is unfamiliar.
        surprise_threshold: mean prediction energy over :data:`SURPRISE_WINDOW` steps
            above which the world is surprising.
        quantiles: the calibration quantiles the thresholds were set at (novelty, surprise).
    """

    bank: torch.Tensor
    novelty_threshold: float
    surprise_threshold: float
    quantiles: tuple[float, float] = (0.99, 0.999)

    @classmethod
    @torch.no_grad()
    def fit(
        cls,
        model: WorldModel,
        data_path: str | Path,
        frame_skip: int = 1,
        val_fraction: float = 0.05,
        seed: int = 0,
        bank_size: int = 2000,
        calibration: int = 2000,
        quantiles: tuple[float, float] = (0.99, 0.999),
        progress: bool = False,
    ) -> SafetyGate:
        """Bank frames of the training episodes, thresholds at ``quantiles`` of the
        held-out episodes' novelty and one-step prediction energy (the split of
        ``val_fraction`` and ``seed``, as the trainer makes it; steps of ``frame_skip``
        recorded frames, as the world model predicts them)."""
        if not all(0.5 <= q < 1 for q in quantiles):
            raise JepalabError(f"calibration quantiles must be in [0.5, 1), got {quantiles}")
        model.eval()
        gen = np.random.default_rng(seed)
        with EpisodeDataset(data_path) as ds:
            ds.check_compatible(model.obs_shape, model.action_dim)
            train_ids, val_ids = split_episodes(ds.num_episodes, max(val_fraction, 0.05), seed)
            bank_frames = _frames(ds, train_ids, bank_size, gen)
            calib_frames = _frames(ds, val_ids, calibration, gen)
        bank = _features(model, bank_frames, progress, "gate: bank")
        novelty = _nearest(bank, _features(model, calib_frames, progress, "gate: calibrate"))
        windows = WindowDataset(
            data_path, SURPRISE_WINDOW + 1, val_ids, in_memory=True, stride=frame_skip
        )
        idx = gen.permutation(len(windows))[:calibration]
        energy = []
        for i in range(0, len(idx), 256):
            b = windows.batch(idx[i : i + 256].tolist())
            energy.append(_one_step_energy(model, b["obs"], b["actions"]).mean(1))
        q_nov, q_sur = quantiles
        return cls(
            bank,
            float(torch.quantile(novelty, q_nov)),
            float(torch.quantile(torch.cat(energy), q_sur)),
            quantiles,
        )

    def novelty(
        self, model: WorldModel, images: torch.Tensor, encoded: Encoded | None = None
    ) -> torch.Tensor:
        """``(E,)`` distance of uint8 ``(E, H, W, C)`` observations to the nearest banked
        (``encoded``: their embeddings and scene maps, if already computed)."""
        feats = novelty_features(model, images, encoded)
        if feats.shape[1] != self.bank.shape[1]:
            raise JepalabError(
                f"the gate's bank holds {self.bank.shape[1]}-d features but this world model "
                f"gives {feats.shape[1]}-d ones; fit the gate on this world model"
            )
        return _nearest(self.bank, feats)

    def unfamiliar(self, novelty: torch.Tensor, what: str) -> list[str | None]:
        """Per ``(E,)`` novelty (:meth:`novelty`), the reason to abstain if it is unfamiliar
        (else ``None``); ``what`` names the observation in the reason (``"start"``, ``"goal"``)."""
        return [
            UNFAMILIAR.format(score=s, threshold=self.novelty_threshold, what=what)
            if s > self.novelty_threshold
            else None
            for s in novelty.tolist()
        ]

    def surprised(self, energy: torch.Tensor) -> list[str | None]:
        """Per ``(E,)`` prediction energy, the reason to abstain if it is surprising."""
        return [
            SURPRISED.format(score=e, threshold=self.surprise_threshold, window=SURPRISE_WINDOW)
            if e > self.surprise_threshold
            else None
            for e in energy.tolist()
        ]

    def calibrate_novelty(self, peaks: torch.Tensor, quantile: float = 0.99) -> None:
        """Set the novelty threshold at ``quantile`` of the per-task peak novelty (the higher
        of start and goal, :attr:`Agent.peak_novelty`) of tasks in familiar worlds: an
        ordinary task is then turned down with probability about ``1 - quantile``. (The
        threshold :meth:`fit` sets is a quantile of single exploration frames; a task is two
        observations, and its goals sit where exploration rarely goes, in corners.)"""
        self.novelty_threshold = _quantile(peaks, quantile, "novelties (per-task peaks)")
        self.quantiles = (quantile, self.quantiles[1])

    def calibrate_surprise(self, peaks: torch.Tensor, quantile: float = 0.99) -> None:
        """Set the surprise threshold at ``quantile`` of the per-episode peak surprise an
        agent met in familiar worlds (:attr:`Agent.peak_surprise` of episodes on
        training-like tasks): an ordinary episode then trips it with probability about
        ``1 - quantile``, however many decisions it takes. (A quantile of single windows
        would not say that: an episode is asked dozens of times.)"""
        self.surprise_threshold = _quantile(peaks, quantile, "surprises (per-episode peaks)")
        self.quantiles = (self.quantiles[0], quantile)

    def save(self, path: str | Path) -> None:
        """Write the gate to a safetensors file (atomically)."""
        meta = {
            "kind": GATE_KIND,
            "novelty_threshold": self.novelty_threshold,
            "surprise_threshold": self.surprise_threshold,
            "quantiles": list(self.quantiles),
        }
        save_checkpoint(path, {"bank": self.bank.contiguous()}, meta)

    @classmethod
    def load(cls, path: str | Path) -> SafetyGate:
        """Read a gate written by :meth:`save`."""
        tensors, meta = read_checkpoint(path, GATE_KIND)
        if "bank" not in tensors or tensors["bank"].ndim != 2:
            raise CheckpointError(f"{path}: not a safety gate (no (B, F) feature bank)")
        return cls(
            tensors["bank"],
            float(meta["novelty_threshold"]),
            float(meta["surprise_threshold"]),
            tuple(float(q) for q in meta["quantiles"]),  # type: ignore[arg-type]
        )


def _quantile(peaks: torch.Tensor, q: float, what: str) -> float:
    if not 0.5 <= q <= 1:
        raise JepalabError(f"a calibration quantile must be in [0.5, 1], got {q}")
    if peaks.numel() == 0 or not torch.isfinite(peaks).all():
        raise JepalabError(f"calibration needs finite {what} of some episodes")
    return float(torch.quantile(peaks.detach().flatten().float(), q))


def _frames(ds: EpisodeDataset, episodes: list[int], n: int, gen: np.random.Generator):
    """``(n', H, W, C)`` uint8: up to ``n`` frames drawn evenly from ``episodes``."""
    starts = ds.episode_starts
    pool = np.concatenate([np.arange(starts[e], starts[e + 1]) for e in episodes])
    if len(pool) == 0:
        raise JepalabError(f"{ds.path}: no frames to calibrate the safety gate on")
    pick = np.sort(gen.choice(pool, min(n, len(pool)), replace=False))
    return torch.from_numpy(ds.frames(pick))


def _features(model: WorldModel, frames: torch.Tensor, progress: bool, desc: str) -> torch.Tensor:
    chunks = range(0, len(frames), 256)
    return torch.cat(
        [
            novelty_features(model, frames[i : i + 256])
            for i in tqdm(chunks, desc=desc, disable=not progress)
        ]
    )


def _one_step_energy(model: WorldModel, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, W, C)``, ``(B, T-1, A)`` -> ``(B, T-1)`` energy of each step predicted from
    the encoding of the frame before it (not from a rollout: the agent's view)."""
    b, t = actions.shape[:2]
    z = model.encode(obs)
    scene = model.scene_map(obs[:, 0])
    if scene is not None:
        scene = scene.repeat_interleave(t, 0)
    pred = model.step(z[:, :-1].flatten(0, 1), actions.flatten(0, 1), scene)
    return (pred - z[:, 1:].flatten(0, 1)).square().sum(-1).view(b, t)


def _nearest(bank: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """``(N,)`` Euclidean distance from each ``(N, F)`` feature to its nearest in the bank.

    ``cdist`` finds the nearest by its matrix-product form (20x faster than the exact one
    at 2000 x 2000), whose distances lose about 1e-3 to cancellation: a banked
    observation's distance to itself came out 0.004, not 0. So the distance to the one
    found is taken again exactly."""
    nearest = torch.cdist(feats, bank).argmin(1)
    return (feats - bank[nearest]).norm(dim=1)

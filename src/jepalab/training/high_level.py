"""Train the high level of the hierarchy: the low level's consequences, k steps at a time.

The high-level predictor learns what holding a macro-action for ``k`` world-model steps
does, from states the agent really visited: every frame of the exploration trajectories is
encoded once by the frozen encoder (and every episode's scene map once: walls do not move
within an episode); each training step draws real states and random macro-actions, asks
the *low-level* world model what ``k`` steps of each would do, and regresses the high
level onto that, ``R`` high-level steps at a time.

Why not regress onto the real embedding ``k`` steps later, labelled with the mean of the
recorded actions? That was the first version. An exploration path winds, and the mean of its
actions says little about where it ends: near a wall with a door the same mean action
sometimes went through and sometimes not, the predictor learned the average, and the
subgoal search leaked through walls (in development, on 50 validation maze tasks, its route
matched the true sequence of rooms in 44% of them, against 84% searching with the low
level's own rollouts). The low
level has learned the walls step by step; the high level inherits that, k times faster.

Shapes: ``B`` states per batch, ``R`` high-level steps, ``D`` embedding size, ``A`` actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..actor import ActionBounds
from ..config import RunConfig
from ..data import EpisodeDataset
from ..data.dataset import split_episodes
from ..errors import CheckpointError, JepalabError
from ..world_model.high_level import HighLevelModel
from ..world_model.jepa import WorldModel
from .checkpoint import load_state, read_addon, save_checkpoint, split_prefix

HIGH_LEVEL_KIND = "high-level"


@dataclass
class EncodedStates:
    """Every frame of some episodes, encoded: ``z`` ``(F, D)``, ``episode`` ``(F,)`` the
    episode of each frame (an index into ``scenes``), ``scenes`` ``(E, C, h, w)`` or None."""

    z: torch.Tensor
    episode: torch.Tensor
    scenes: torch.Tensor | None

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, D)`` random states and their ``(B, C, h, w)`` scenes."""
        i = torch.randint(len(self.z), (batch,), generator=gen)
        return self.z[i], None if self.scenes is None else self.scenes[self.episode[i]]


@torch.no_grad()
def encode_states(
    model: WorldModel, path: str | Path, episodes: list[int], batch: int = 512
) -> EncodedStates:
    """Encode every frame of ``episodes`` of the dataset at ``path`` with ``model``."""
    model.eval()
    zs, ids, scenes = [], [], []
    with EpisodeDataset(path) as ds:
        ds.check_compatible(model.obs_shape, model.action_dim)
        for k, e in enumerate(episodes):
            obs = torch.from_numpy(ds.episode(e)["obs"])
            zs.append(
                torch.cat([model.encode(obs[i : i + batch]) for i in range(0, len(obs), batch)])
            )
            ids.append(torch.full((len(obs),), k))
            scene = model.scene_map(obs[:1])
            if scene is not None:
                scenes.append(scene)
    return EncodedStates(torch.cat(zs), torch.cat(ids), torch.cat(scenes) if scenes else None)


def random_macros(
    bounds: ActionBounds, shape: tuple[int, ...], gen: torch.Generator
) -> torch.Tensor:
    """``(*shape, A)`` macro-actions: uniform in the box, then shrunk into the norm ball;
    a quarter of them pushed out to the boundary (full strength, as the search uses)."""
    low, high = torch.tensor(bounds.low), torch.tensor(bounds.high)
    a = low + (high - low) * torch.rand(*shape, bounds.dim, generator=gen)
    full = torch.rand(*shape, 1, generator=gen) < 0.25
    return torch.where(full, full_strength(bounds, a), bounds.project(a))


def full_strength(bounds: ActionBounds, a: torch.Tensor) -> torch.Tensor:
    """``(..., A)`` actions stretched along their headings onto the boundary of ``bounds``."""
    return bounds.project(a * 1e3)


@torch.no_grad()
def _low_level_targets(
    low: WorldModel, z0: torch.Tensor, macros: torch.Tensor, scenes: torch.Tensor | None, k: int
) -> torch.Tensor:
    """``(B, R, D)``: where the low level says holding each macro-action ``k`` steps leads."""
    return low.rollout(z0, macros.repeat_interleave(k, dim=1), scenes)[:, k - 1 :: k]


def train_high_level(
    high: HighLevelModel,
    low: WorldModel,
    data_path: str | Path,
    bounds: ActionBounds,
    steps: int = 3000,
    batch: int = 256,
    lr: float = 1e-3,
    rollout: int = 2,
    val_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Fit ``high``'s predictor to ``low``'s ``k``-step consequences from the dataset's states.

    Sets ``high.step_size`` (the median distance of a full-strength high-level step) and
    ``high.basis`` (:func:`place_basis`).
    Returns ``val_pred``, the mean squared distance between one high-level step and the low
    level's ``k`` steps on held-out episodes' states, and ``val_static``, the same for
    "nothing moves": their ratio says how much of a step the high level gets wrong.
    """
    if steps < 1 or batch < 1 or rollout < 1:
        raise JepalabError(
            f"steps, batch and rollout must be positive, got {steps}, {batch}, {rollout}"
        )
    with EpisodeDataset(data_path) as ds:
        train_ids, val_ids = split_episodes(ds.num_episodes, val_fraction, seed)
    low.eval()
    train = encode_states(low, data_path, train_ids)
    val = encode_states(low, data_path, val_ids) if val_ids else train
    gen = torch.Generator().manual_seed(seed)
    k = high.steps
    params = list(high.predictor.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    high.eval()  # the shared low-level modules stay in eval mode
    high.predictor.train()
    for step in tqdm(range(steps), desc="high level", disable=not progress):
        z0, scenes = train.sample(batch, gen)
        macros = random_macros(bounds, (batch, rollout), gen)
        target = _low_level_targets(low, z0, macros, scenes, k)
        loss = (high.rollout(z0, macros, scenes) - target).square().sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if not math.isfinite(loss.item()):
            raise JepalabError(f"high-level training diverged at step {step} (loss {loss.item()})")
    high.predictor.eval()
    return _calibrate(high, low, val, bounds, gen)


def fit_high_level(
    low: WorldModel, cfg: RunConfig, bounds: ActionBounds, progress: bool = True
) -> tuple[HighLevelModel, dict[str, float]]:
    """A high level on top of ``low`` as ``cfg.hierarchy`` describes it, trained on the run's
    dataset (:func:`train_high_level`); returns it and its validation figures."""
    h = cfg.hierarchy
    high = HighLevelModel(low, h.steps, h.hidden, 2, h.glimpse_points, h.glimpse_spacing_px)
    fit = train_high_level(
        high, low, cfg.data_path, bounds, h.train_steps, h.batch_size, h.lr, h.rollout,
        cfg.data.val_fraction, cfg.train.seed, progress,
    )  # fmt: skip
    return high, fit


@torch.no_grad()
def place_basis(data: EncodedStates, explained: float = 0.9) -> torch.Tensor:
    """``(D, d)`` principal directions of the variation *within* episodes (each episode's
    mean removed, so what differs between layouts is left out), as many as explain
    ``explained`` of it."""
    means = torch.zeros(int(data.episode.max()) + 1, data.z.shape[1]).index_add_(
        0, data.episode, data.z
    )
    means /= torch.bincount(data.episode).clamp(min=1)[:, None]
    centred = data.z - means[data.episode]
    values, vectors = torch.linalg.eigh(centred.T @ centred / len(centred))
    values, vectors = values.flip(0), vectors.flip(1)
    dims = int((values.cumsum(0) / values.sum() < explained).sum()) + 1
    return vectors[:, :dims].contiguous()


@torch.no_grad()
def _calibrate(
    high: HighLevelModel,
    low: WorldModel,
    data: EncodedStates,
    bounds: ActionBounds,
    gen: torch.Generator,
    num: int = 4096,
) -> dict[str, float]:
    z0, scenes = data.sample(num, gen)
    macros = random_macros(bounds, (num, 1), gen)
    target = _low_level_targets(low, z0, macros, scenes, high.steps)[:, 0]
    pred = high.rollout(z0, macros, scenes)[:, 0]
    full = full_strength(bounds, macros)
    moved = (high.rollout(z0, full, scenes)[:, 0] - z0).norm(dim=-1)
    high.step_size.fill_(moved.median())
    high.basis = place_basis(data)
    return {
        "val_pred": float((pred - target).square().sum(-1).mean()),
        "val_static": float((z0 - target).square().sum(-1).mean()),
        "step_size": float(high.step_size),
    }


def save_high_level(high: HighLevelModel, path: str | Path) -> None:
    """Write the high level's own weights and settings to safetensors (atomically)."""
    meta = {"kind": HIGH_LEVEL_KIND, "embed_dim": high.embed_dim, **high.settings}
    save_checkpoint(path, high.own_state(), meta)


def load_high_level(path: str | Path, low: WorldModel) -> HighLevelModel:
    """Read a high level written by :func:`save_high_level` on top of the world model ``low``."""
    tensors, meta = read_addon(path, HIGH_LEVEL_KIND, low.embed_dim, "high level")
    high = HighLevelModel(
        low,
        steps=int(meta["steps"]),
        hidden=int(meta["hidden"]),
        layers=int(meta["layers"]),
        glimpse_points=int(meta["glimpse_points"]),
        glimpse_spacing_px=float(meta["glimpse_spacing_px"]),
    )
    if "step_size" not in tensors or "basis" not in tensors:
        raise CheckpointError(f"{path}: not a complete high-level checkpoint (no calibration)")
    high.step_size.copy_(tensors.pop("step_size"))
    high.basis = tensors.pop("basis")
    load_state(high.predictor, split_prefix(tensors, "predictor"), path)
    return high.eval()

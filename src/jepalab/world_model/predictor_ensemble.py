"""An ensemble of predictors: how sure the world model is of each predicted step.

The world model's predictor gives one answer. ``M`` small predictors trained on the same
transitions, from different initialisations and on different bootstrap resamples, agree
where the data pinned the answer down and disagree where they did not: their spread is
*epistemic* uncertainty, the kind more data would remove. The planner penalises it when
``planner.risk > 0`` (risk-averse planning: the plan's energy plus ``risk`` times the mean
spread of its steps), so plans stay where the model knows what happens.

The members share the world model's frozen encoder and scene glimpse and predict the next
embedding from ``[z, a, glimpse]``, like its predictor; along a plan they are asked about
each step of the world model's own rollout.

Shapes: ``M`` members, ``N`` states, ``D`` embedding size, ``A`` action size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data import EpisodeDataset, WindowDataset, split_episodes
from ..ensemble import EnsembleMLP, bootstrap_mean
from ..errors import JepalabError
from ..training.checkpoint import load_state, read_addon, save_checkpoint
from .jepa import WorldModel

ENSEMBLE_KIND = "predictor-ensemble"


class PredictorEnsemble(nn.Module):
    """``M`` predictors of ``model``'s next embedding; :meth:`spread` is their disagreement.

    Args:
        model: the world model (kept by reference, not copied or trained).
        members: ``M``.
        hidden: width of each member's two hidden layers.
    """

    def __init__(self, model: WorldModel, members: int = 5, hidden: int = 128) -> None:
        super().__init__()
        if members < 2:
            raise JepalabError(f"an ensemble needs >= 2 members to disagree, got {members}")
        self.members, self.hidden = members, hidden
        self._model = [model]  # a list keeps the world model out of this module's state
        glimpse = model.scene.features if model.scene is not None else 0
        inputs = model.embed_dim + model.action_dim + glimpse
        self.net = EnsembleMLP(members, (inputs, hidden, hidden, model.embed_dim))

    def forward(
        self, z: torch.Tensor, a: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(N, D), (N, A)`` and the scenes (as :meth:`WorldModel.step` takes them) ->
        ``(M, N, D)`` every member's next embedding."""
        model = self._model[0]
        x = torch.cat([z, a], -1)
        if model.scene is not None:
            if scene is None:
                raise JepalabError("this world model reads the scene: pass the scene maps")
            x = torch.cat([x, model.scene.read(scene, z)], -1)
        return z + self.net(x)

    def spread(
        self, z: torch.Tensor, a: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(N,)`` the members' variance about their mean, summed over the embedding."""
        return self(z, a, scene).var(0, correction=0).sum(-1)


def train_predictor_ensemble(
    ensemble: PredictorEnsemble,
    data_path: str | Path,
    frame_skip: int = 1,
    val_fraction: float = 0.05,
    seed: int = 0,
    steps: int = 2000,
    batch: int = 256,
    lr: float = 1e-3,
    progress: bool = False,
) -> list[float]:
    """Fit every member to the world model's training transitions (the episodes the
    trainer's split of ``val_fraction`` and ``seed`` trains on, steps of ``frame_skip``
    frames), each on its own Poisson bootstrap of every batch; returns the losses."""
    if steps < 1 or batch < 1:
        raise JepalabError(f"ensemble steps and batch must be positive, got {steps}, {batch}")
    model = ensemble._model[0].eval()
    with EpisodeDataset(data_path) as ds:
        ds.check_compatible(model.obs_shape, model.action_dim)
        train_ids, _ = split_episodes(ds.num_episodes, val_fraction, seed)
    steps_ds = WindowDataset(data_path, 2, train_ids, in_memory=True, stride=frame_skip)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(ensemble.net.parameters(), lr=lr)
    losses = []
    ensemble.train()
    for _ in tqdm(range(steps), desc="predictor ensemble", disable=not progress):
        b = steps_ds.batch(rng.integers(len(steps_ds), size=batch).tolist())
        with torch.no_grad():  # the world model is frozen
            z = model.encode(b["obs"])
            scene = model.scene_map(b["obs"][:, 0])
        pred = ensemble(z[:, 0], b["actions"][:, 0], scene)
        loss = bootstrap_mean((pred - z[:, 1]).square().sum(-1), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not np.isfinite(losses[-1]):
            raise JepalabError(f"predictor ensemble training diverged (loss {losses[-1]})")
    return losses


def save_predictor_ensemble(ensemble: PredictorEnsemble, path: str | Path) -> None:
    """Write the members' weights to safetensors (atomically)."""
    meta = {
        "kind": ENSEMBLE_KIND,
        "embed_dim": ensemble._model[0].embed_dim,
        "members": ensemble.members,
        "hidden": ensemble.hidden,
    }
    save_checkpoint(path, ensemble.net.state_dict(), meta)


def load_predictor_ensemble(path: str | Path, model: WorldModel) -> PredictorEnsemble:
    """Read an ensemble written by :func:`save_predictor_ensemble`, on top of ``model``."""
    tensors, meta = read_addon(path, ENSEMBLE_KIND, model.embed_dim, "predictor ensemble")
    ensemble = PredictorEnsemble(model, int(meta["members"]), int(meta["hidden"]))
    load_state(ensemble.net, tensors, path)
    return ensemble.eval()

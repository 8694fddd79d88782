"""Training the world model, top to bottom in one loop.

For each step: draw windows of T frames and T-1 actions, encode every frame, roll the
predictor forward from the first embedding through all T-1 actions, and pay

    loss = prediction (rollout vs targets) + anti-collapse regulariser + inverse dynamics.

Progress bar, TensorBoard scalars, a JSON-lines metrics log, the collapse monitor,
periodic atomic safetensors checkpoints and exact resume all live here. Only rank 0 logs
and writes, so a data-parallel wrapper can be added without touching the rest.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import RunConfig, from_dict, save_config
from ..data import EpisodeDataset, WindowDataset, split_episodes
from ..errors import CheckpointError, DataError
from ..world_model import InverseDynamics, WorldModel, collapse_stats
from ..world_model.objectives import AntiCollapse, make_objective
from .checkpoint import (
    load_optimizer,
    optimizer_tensors,
    read_checkpoint,
    save_checkpoint,
    split_prefix,
    with_prefix,
)
from .distributed import DistInfo, set_threads

KIND = "world_model"


@dataclass
class TrainResult:
    model: WorldModel
    steps: int
    train_seconds: float
    final: dict[str, float]
    checkpoint: Path


def build_model(cfg: RunConfig, obs_shape: tuple[int, int, int], action_dim: int) -> WorldModel:
    m = cfg.model
    return WorldModel(
        obs_shape,
        action_dim,
        embed_dim=m.embed_dim,
        encoder=m.encoder,
        channels=m.channels,
        pool=m.pool,
        predictor=m.predictor,
        predictor_hidden=m.predictor_hidden,
        predictor_layers=m.predictor_layers,
    )


def jepa_loss(
    model: WorldModel,
    objective: AntiCollapse,
    idm: InverseDynamics | None,
    obs: torch.Tensor,
    actions: torch.Tensor,
    idm_weight: float,
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """``obs (B, T, H, W, C)`` uint8, ``actions (B, T-1, A)`` -> (loss, terms, z (B, T, D))."""
    z = model.encode(obs)
    targets = objective.targets(obs, z)
    pred = model.rollout(z[:, 0], actions)
    pred_loss = (pred - targets[:, 1:]).pow(2).mean()
    # Regularise each time step across the batch: frames of one window are not independent.
    regs = [objective.regularizer(z[:, t]) for t in range(z.shape[1])]
    reg = torch.stack([r for r, _ in regs]).mean()
    terms = {k: float(np.mean([t[k] for _, t in regs])) for k in regs[0][1]}
    loss = pred_loss + reg
    if idm is not None:
        idm_loss = (idm(z[:, :-1], z[:, 1:]) - actions).pow(2).mean()
        loss = loss + idm_weight * idm_loss
        terms["idm"] = idm_loss.item()
    terms.update(loss=loss.item(), pred=pred_loss.item(), reg=reg.item())
    return loss, terms, z


def lr_at(step: int, cfg: RunConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    t = cfg.train
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    frac = (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps)
    return t.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Owns the model, objective, optimiser and data of one training run."""

    kind = KIND

    def __init__(self, cfg: RunConfig, dist: DistInfo | None = None) -> None:
        self._setup(cfg, dist)
        data = EpisodeDataset(cfg.data_path)
        self.obs_shape, self.action_dim = tuple(data.obs_shape), data.action_dim
        train_ids, val_ids = split_episodes(data.num_episodes, cfg.data.val_fraction, cfg.data.seed)
        self.train_ds = WindowDataset(cfg.data_path, cfg.data.window, train_ids, cfg.data.in_memory)
        self.val_ds = WindowDataset(cfg.data_path, cfg.data.window, val_ids, cfg.data.in_memory)

        self.model = build_model(cfg, self.obs_shape, self.action_dim)
        self.objective = make_objective(cfg.objective, self.model)
        self.idm = (
            InverseDynamics(cfg.model.embed_dim, self.action_dim)
            if cfg.objective.idm_weight > 0
            else None
        )
        self._init_optimizer()

    def _setup(self, cfg: RunConfig, dist: DistInfo | None) -> None:
        """What every run shares: folders, threads, seeds."""
        self.cfg, self.dist = cfg, dist or DistInfo.from_env()
        self.out = Path(cfg.out_dir)
        self.ckpt_path = self.out / "checkpoints" / "last.safetensors"
        set_threads(cfg.train.threads, self.dist)
        seed_everything(cfg.train.seed + self.dist.rank)

    def _init_optimizer(self) -> None:
        self.params = [
            p for m in self._modules().values() for p in m.parameters() if p.requires_grad
        ]
        self.opt = torch.optim.AdamW(
            self.params, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay
        )
        self.sampler = torch.Generator().manual_seed(self.cfg.train.seed * 7919 + self.dist.rank)
        self.step = 0

    def _modules(self) -> dict[str, torch.nn.Module]:
        mods = {"model": self.model, "objective": self.objective}
        if self.idm is not None:
            mods["idm"] = self.idm
        return mods

    # ---------------------------------------------------------------- checkpoints
    def save(self) -> None:
        if not self.dist.is_main:
            return
        tensors: dict[str, torch.Tensor] = {}
        for name, mod in self._modules().items():
            tensors.update(with_prefix(mod.state_dict(), name))
        opt_tensors, groups = optimizer_tensors(self.opt)
        tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.sampler"] = self.sampler.get_state()
        meta = {
            "kind": self.kind,
            "step": self.step,
            "config": self.cfg.to_dict(),
            "param_groups": groups,
            **self._meta(),
        }
        save_checkpoint(self.ckpt_path, tensors, meta)

    def _meta(self) -> dict:
        """What a checkpoint needs beyond the config to rebuild the model."""
        return {"obs_shape": list(self.obs_shape), "action_dim": self.action_dim}

    def _check_resume(self, meta: dict) -> None:
        """Refuse to resume from a checkpoint trained on different data or a different model."""
        if tuple(meta["obs_shape"]) != self.obs_shape or meta["action_dim"] != self.action_dim:
            raise DataError(
                f"dataset {self.cfg.data_path} has observations {self.obs_shape} and actions of "
                f"dim {self.action_dim}, but checkpoint {self.ckpt_path} was trained on "
                f"{tuple(meta['obs_shape'])} and dim {meta['action_dim']}"
            )
        if from_dict(meta["config"]).model != self.cfg.model:
            raise CheckpointError(
                f"checkpoint {self.ckpt_path} was trained with a different model config; "
                "resume with the run's own config.yaml"
            )

    def resume(self) -> None:
        """Continue exactly where the last checkpoint left off."""
        tensors, meta = read_checkpoint(self.ckpt_path, self.kind)
        self._check_resume(meta)
        for name, mod in self._modules().items():
            mod.load_state_dict(split_prefix(tensors, name))
        load_optimizer(self.opt, tensors, meta["param_groups"])
        torch.set_rng_state(tensors["rng.torch"])
        self.sampler.set_state(tensors["rng.sampler"])
        self.step = int(meta["step"])

    # ---------------------------------------------------------------- the loop
    def fit(self, resume: bool = False, progress: bool = True) -> TrainResult:
        cfg, t = self.cfg, self.cfg.train
        main = self.dist.is_main
        if resume:
            self.resume()
        if main:
            save_config(cfg, self.out / "config.yaml")
            self._trim_log()
        tb = _summary_writer(self.out / "tb") if main else None
        bar = tqdm(total=t.steps, initial=self.step, desc="train", disable=not (main and progress))
        start, terms = time.perf_counter(), {}
        self.model.train()
        while self.step < t.steps:
            for g in self.opt.param_groups:
                g["lr"] = lr_at(self.step, cfg)
            loss, terms, z = self._batch_loss()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss)} at step {self.step}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, t.grad_clip)
            self.opt.step()
            self.objective.after_step(self.model)
            self.step += 1
            bar.update(1)
            if main and (self.step % t.log_every == 0 or self.step == t.steps):
                terms.update(collapse_stats(z.detach()), lr=self.opt.param_groups[0]["lr"])
                self._log(tb, terms)
                bar.set_postfix(loss=f"{terms['loss']:.3f}", rank=f"{terms['eff_rank']:.1f}")
            if self.step % t.ckpt_every == 0 or self.step == t.steps:
                self.save()
        bar.close()
        seconds = time.perf_counter() - start
        final = self.validate() if main else {}
        if tb is not None:
            for k, v in final.items():
                tb.add_scalar(f"val/{k}", v, self.step)
            tb.close()
        self.model.eval()
        return TrainResult(self.model, self.step, seconds, final, self.ckpt_path)

    def _batch_loss(self) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """One training batch -> (loss, named terms, embeddings ``(N, D)`` for the monitor)."""
        t = self.cfg.train
        idx = torch.randint(len(self.train_ds), (t.batch_size,), generator=self.sampler)
        batch = self.train_ds.batch(idx.tolist())
        loss, terms, z = jepa_loss(
            self.model,
            self.objective,
            self.idm,
            batch["obs"],
            batch["actions"],
            self.cfg.objective.idm_weight,
        )
        return loss, terms, z.flatten(0, 1)

    @torch.no_grad()
    def validate(self, max_windows: int = 512) -> dict[str, float]:
        """Held-out prediction error, collapse statistics and a linear position probe."""
        from ..eval.probe import linear_probe

        self.model.eval()
        g = torch.Generator().manual_seed(0)
        n = min(max_windows, len(self.val_ds))
        idx = torch.randperm(len(self.val_ds), generator=g)[:n]
        batch = self.val_ds.batch(idx.tolist())
        _, terms, z = jepa_loss(
            self.model,
            self.objective,
            self.idm,
            batch["obs"],
            batch["actions"],
            self.cfg.objective.idm_weight,
        )
        out = {"val_pred": terms["pred"], **collapse_stats(z.flatten(0, 1))}
        if batch["states"].shape[-1] > 0:
            out.update(linear_probe(z.flatten(0, 1), batch["states"].flatten(0, 1)))
        self.model.train()
        return out

    # ---------------------------------------------------------------- logging
    def _log(self, tb, terms: dict[str, float]) -> None:
        for k, v in terms.items():
            tb.add_scalar(f"train/{k}", v, self.step)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, **terms}) + "\n")

    def _trim_log(self) -> None:
        """On resume, drop log lines from steps after the checkpoint."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return
        keep = [
            ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step
        ]
        path.write_text("".join(ln + "\n" for ln in keep))


def _summary_writer(path: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(path))


def load_world_model(path: str | Path) -> tuple[WorldModel, RunConfig]:
    """Load a trained world model (eval mode) and its run config from a checkpoint."""
    tensors, meta = read_checkpoint(path, KIND)
    cfg = from_dict(meta["config"])
    model = build_model(cfg, tuple(meta["obs_shape"]), int(meta["action_dim"]))
    try:
        model.load_state_dict(split_prefix(tensors, "model"))
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match its own config: {e}") from None
    return model.eval(), cfg

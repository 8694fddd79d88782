"""Training the world model, top to bottom in one loop.

For each step: draw windows of T frames and T-1 actions, encode every frame, roll the
predictor forward from the first embedding through all T-1 actions (or, with
``objective.prediction one-step``, one step from each embedding), and pay

    loss = prediction (rollout vs targets) + anti-collapse regulariser + inverse dynamics.

Progress bar, TensorBoard scalars (and Weights & Biases with ``train.wandb_project``), a
JSON-lines metrics log, the collapse monitor, periodic atomic safetensors checkpoints and
exact resume all live here.

Data parallel (``torchrun --nproc-per-node N -m jepalab train ...``): ``train.batch_size``
is the global batch. As a ``DistributedSampler`` shards one shared permutation, every rank
draws the same global batch of random windows from one stream (seeded alike on every rank)
and loads only its own disjoint slice, ``batch_size / world_size`` windows. The global
batch is then exactly the one a single process would train on, whatever the number of
processes, so a data-parallel run reproduces a single-process run (rather than a run with
other data, whose spread between seeds is far above the 2% asked of data parallelism) and
resumes exactly with any number of processes. The regulariser sees the whole global batch
(embeddings gathered across ranks) and gradients are averaged before clipping, so every
rank takes the single-process optimiser step and the parameters stay identical. Only rank
0 writes (config, logs, TensorBoard, checkpoints) and validates.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import RunConfig, from_dict, save_config
from ..data import EpisodeDataset, WindowDataset, split_episodes
from ..errors import CheckpointError, ConfigError, DataError, JepalabError
from ..world_model import (
    InverseDynamics,
    PixelNeighbours,
    TimeContrast,
    WorldModel,
    collapse_stats,
)
from ..world_model.objectives import AntiCollapse, make_objective
from .checkpoint import (
    load_optimizer,
    load_state,
    optimizer_tensors,
    read_checkpoint,
    save_checkpoint,
    split_prefix,
    with_prefix,
)
from .distributed import (
    DistInfo,
    average_gradients,
    barrier,
    broadcast_modules,
    gather_batch,
    init_process_group,
    mean_over_ranks,
    set_threads,
)

KIND = "world_model"
# Stage two's predictor (training/rollout_tuning.py) is stored under this prefix beside the
# model of stage one, which load_world_model then plans with.
TUNED = "tuned_predictor"
PREDICTIONS = ("rollout", "one-step")  # objective.prediction: what the predictor learns from


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
        scene_channels=m.scene_channels,
        frames=m.frames,
    )


def jepa_loss(
    model: WorldModel,
    objective: AntiCollapse,
    idm: InverseDynamics | None,
    obs: torch.Tensor,
    actions: torch.Tensor,
    idm_weight: float,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    one_step: bool = False,
    contrast: TimeContrast | None = None,
    contrast_weight: float = 0.0,
    neighbours: PixelNeighbours | None = None,
    neighbours_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """``obs (B, T, H, W, C)`` uint8, ``actions (B, T-1, A)`` -> (loss, terms, z (B, T, D)).
    Terms are detached 0-dim tensors (:func:`scalars` reads them).

    ``gather`` (data parallel): concatenates every rank's embeddings, so that the
    regulariser's batch statistics cover the global batch as they would in one process.
    ``one_step``: predict each frame from the encoding of the one before (teacher forcing)
    instead of open loop from the first. ``contrast``: add its time-contrastive loss at
    ``contrast_weight``; ``neighbours``: its pixel-neighbourhood loss at
    ``neighbours_weight``."""
    if model.scene is None:
        z = model.encode(obs)
    else:
        z, keypoints = model.encode_keypoints(obs)
    targets = objective.targets(obs, z)
    scene = model.scene_map(obs[:, 0])
    if one_step:  # B * (T-1) one-step rollouts; each window's T-1 share its scene
        b, t = actions.shape[:2]
        pred = model.rollout(z[:, :-1].flatten(0, 1), actions.flatten(0, 1)[:, None], scene)
        pred = pred.view(b, t, -1)
    else:
        pred = model.rollout(z[:, 0], actions, scene)
    pred_loss = (pred - targets[:, 1:]).pow(2).mean()
    # Regularise each time step across the batch: frames of one window are not independent.
    z_all = z if gather is None else gather(z)
    regs = [objective.regularizer(z_all[:, t]) for t in range(z.shape[1])]
    reg = torch.stack([r for r, _ in regs]).mean()
    terms = {k: torch.stack([t[k] for _, t in regs]).mean() for k in regs[0][1]}
    loss = pred_loss + reg
    if model.scene is not None:
        locator_loss = model.scene.locator_loss(z, keypoints)
        loss = loss + locator_loss
        terms["locator"] = locator_loss.detach()
    if idm is not None:
        idm_loss = (idm(z[:, :-1], z[:, 1:]) - actions).pow(2).mean()
        loss = loss + idm_weight * idm_loss
        terms["idm"] = idm_loss.detach()
    if contrast is not None:
        contrast_loss = contrast(z, enqueue=z_all)
        loss = loss + contrast_weight * contrast_loss
        terms["time_contrast"] = contrast_loss.detach()
    if neighbours is not None:
        # Under data parallelism each rank's own frames and queue are its candidates.
        neighbours_loss = neighbours(z, neighbours.pictures(obs))
        loss = loss + neighbours_weight * neighbours_loss
        terms["pixel_neighbours"] = neighbours_loss.detach()
    terms.update(loss=loss.detach(), pred=pred_loss.detach(), reg=reg.detach())
    return loss, terms, z


def scalars(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """Named 0-dim loss terms -> floats, read off the device in one transfer."""
    return dict(zip(terms, torch.stack(list(terms.values())).tolist(), strict=True))


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


def native_bf16(device: torch.device) -> bool:
    """Does ``device`` compute in bf16 natively? On a CPU without it, autocast emulates
    bf16 and runs slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if not hasattr(torch.cpu, "get_capabilities"):  # torch < 2.10: cannot tell, stay fp32
        return False
    caps = torch.cpu.get_capabilities()
    return any(caps.get(k, False) for k in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))


def train_device(requested: str, dist: DistInfo) -> torch.device:
    if requested == "cpu":
        return torch.device("cpu")
    if requested != "cuda":
        raise ConfigError(f"train.device must be cpu or cuda, got '{requested}'")
    if torch.cuda.device_count() <= dist.local_rank:
        raise ConfigError(
            f"train.device is cuda but local rank {dist.local_rank} has no GPU "
            f"({torch.cuda.device_count()} visible)"
        )
    return torch.device("cuda", dist.local_rank)


class Trainer:
    """Owns the model, objective, optimiser and data of one training run."""

    kind = KIND
    contrast: TimeContrast | None = None  # the world model's time-contrastive term, if on
    neighbours: PixelNeighbours | None = None  # its pixel-neighbourhood term, if on

    def __init__(self, cfg: RunConfig, dist: DistInfo | None = None) -> None:
        if cfg.objective.prediction not in PREDICTIONS:  # before any folder or data
            raise ConfigError(
                f"objective.prediction must be one of {PREDICTIONS}, "
                f"got '{cfg.objective.prediction}'"
            )
        o = cfg.objective
        if (
            o.time_contrast_weight < 0
            or o.time_contrast_temperature <= 0
            or o.time_contrast_queue < 0
        ):
            raise ConfigError(
                "objective.time_contrast_weight and _queue must be >= 0 and "
                f"_temperature > 0, got {o.time_contrast_weight}, {o.time_contrast_queue}, "
                f"{o.time_contrast_temperature}"
            )
        if (
            o.pixel_neighbours_weight < 0
            or o.pixel_neighbours_k < 1
            or o.pixel_neighbours_blur <= 0
            or o.pixel_neighbours_queue < 0
        ):
            raise ConfigError(
                "objective.pixel_neighbours_weight and _queue must be >= 0, _k >= 1 and "
                f"_blur > 0, got {o.pixel_neighbours_weight}, {o.pixel_neighbours_queue}, "
                f"{o.pixel_neighbours_k}, {o.pixel_neighbours_blur}"
            )
        self._setup(cfg, dist)
        self.loss_fn = self._compiled(jepa_loss)
        data = EpisodeDataset(cfg.data_path)
        self.obs_shape, self.action_dim = tuple(data.obs_shape), data.action_dim
        train_ids, val_ids = split_episodes(data.num_episodes, cfg.data.val_fraction, cfg.data.seed)
        windows = dict(window=cfg.data.window, in_memory=cfg.data.in_memory)
        stride = cfg.model.frame_skip
        self.train_ds = WindowDataset(cfg.data_path, episodes=train_ids, stride=stride, **windows)
        self.val_ds = WindowDataset(cfg.data_path, episodes=val_ids, stride=stride, **windows)

        self.model = build_model(cfg, self.obs_shape, self.action_dim)
        self.objective = make_objective(cfg.objective, self.model)
        self.idm = (
            InverseDynamics(cfg.model.embed_dim, self.action_dim)
            if cfg.objective.idm_weight > 0
            else None
        )
        self.contrast = (
            TimeContrast(cfg.model.embed_dim, o.time_contrast_temperature, o.time_contrast_queue)
            if o.time_contrast_weight > 0
            else None
        )
        self.neighbours = (
            PixelNeighbours(
                self.obs_shape,
                cfg.model.frames,
                o.pixel_neighbours_k,
                o.pixel_neighbours_blur,
                o.pixel_neighbours_queue,
            )
            if o.pixel_neighbours_weight > 0
            else None
        )
        self._prepare()

    def _setup(self, cfg: RunConfig, dist: DistInfo | None) -> None:
        """What every run shares: folders, device, threads, process group, seeds."""
        self.cfg, self.dist = cfg, dist or DistInfo.from_env()
        t, world = cfg.train, self.dist.world_size
        if t.batch_size % world:
            raise ConfigError(
                f"train.batch_size ({t.batch_size}) is the global batch and must be divisible "
                f"by the number of processes ({world})"
            )
        self.local_batch = t.batch_size // world
        self.out = Path(cfg.out_dir)
        self.ckpt_path = self.out / "checkpoints" / "last.safetensors"
        self.device = train_device(t.device, self.dist)
        self.amp = t.amp and native_bf16(self.device)
        if t.amp and not self.amp and self.dist.is_main:
            warnings.warn(
                f"train.amp: {self.device} has no native bf16; training in fp32", stacklevel=3
            )
        if t.wandb_project:
            _import_wandb()  # on every rank: all fail alike now, not rank 0 alone later
        set_threads(t.threads, self.dist)
        self._owns_group = init_process_group(self.dist, self.device)
        # The same seed on every rank: same initial weights, same random streams (windows,
        # SIGReg directions) as one process; only each rank's slice of the batch differs.
        seed_everything(t.seed)

    def _compiled(self, fn: Callable) -> Callable:
        """``torch.compile`` the loss function, not the modules: compiled modules would
        rename their state (``_orig_mod.``) and change the checkpoint format."""
        return torch.compile(fn) if self.cfg.train.compile else fn

    def _prepare(self) -> None:
        """Place the modules, make them identical on every rank, build the optimiser."""
        for m in self._modules().values():
            m.to(self.device)
        for term in self._queued_terms().values():  # no parameters: not in _modules()
            term.to(self.device)
        # Gradients are averaged by hand over every trainable parameter rather than with
        # DistributedDataParallel: DDP only syncs what runs through its wrapper's forward(),
        # but the loss calls model.encode/rollout, the objective and the inverse-dynamics
        # head directly, and the objective's own state (EMA target) must stay identical
        # too. One flat all-reduce after backward covers all of them; what DDP adds
        # (overlapping communication with backward) is noise for models this small.
        # Ranks seed alike; the broadcast makes "identical at the start" hold whatever the
        # seeding. Buffers never learn from the batch here (no batch norm) and the EMA
        # target follows the identical online encoder, so the states stay identical.
        if self.dist.world_size > 1:
            broadcast_modules(self._modules().values())
        self.params = [
            p for m in self._modules().values() for p in m.parameters() if p.requires_grad
        ]
        self.opt = torch.optim.AdamW(
            self.params, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay
        )
        self.sampler = torch.Generator().manual_seed(self.cfg.train.seed * 7919)
        self.step = 0

    def _draw(self, n: int) -> list[int]:
        """This rank's slice of one global batch of random indices into ``n`` items."""
        idx = torch.randint(n, (self.cfg.train.batch_size,), generator=self.sampler)
        first = self.dist.rank * self.local_batch
        return idx[first : first + self.local_batch].tolist()

    def _modules(self) -> dict[str, torch.nn.Module]:
        mods = {"model": self.model, "objective": self.objective}
        if self.idm is not None:
            mods["idm"] = self.idm
        return mods

    def _queued_terms(self) -> dict[str, torch.nn.Module]:
        """The loss terms that are on and keep a queue of recent batches from step to step
        (no parameters; their queues go into the checkpoint, so a resume is exact)."""
        terms = {"contrast": self.contrast, "neighbours": self.neighbours}
        return {name: term for name, term in terms.items() if term is not None}

    # ---------------------------------------------------------------- checkpoints
    def save(self) -> None:
        """Rank 0 writes; the others hold the same state, RNG streams included."""
        if not self.dist.is_main:
            return
        tensors: dict[str, torch.Tensor] = {}
        for name, mod in (self._modules() | self._queued_terms()).items():
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
        """Continue exactly where the last checkpoint left off (under torchrun every rank
        reads the same file, with any number of ranks)."""
        tensors, meta = read_checkpoint(self.ckpt_path, self.kind)
        self._check_resume(meta)
        for name, mod in self._modules().items():
            mod.load_state_dict(split_prefix(tensors, name))
        for name, term in self._queued_terms().items():
            # Checkpoints from before queues were saved have none: the queue refills.
            if queues := split_prefix(tensors, name):
                term.load_state_dict(queues)
        load_optimizer(self.opt, tensors, meta["param_groups"])
        torch.set_rng_state(tensors["rng.torch"])
        self.sampler.set_state(tensors["rng.sampler"])
        self.step = int(meta["step"])

    # ---------------------------------------------------------------- the loop
    def fit(self, resume: bool = False, progress: bool = True) -> TrainResult:
        """Train to ``train.steps``; rank 0 then validates. The trained model comes back
        on the CPU, where the agent plans."""
        cfg, t = self.cfg, self.cfg.train
        main, world = self.dist.is_main, self.dist.world_size
        trackers = None
        try:
            if resume:
                self.resume()
            if main:
                save_config(cfg, self.out / "config.yaml")
                self._trim_log()
                trackers = Trackers(cfg, self.out)
            bar = tqdm(
                total=t.steps, initial=self.step, desc="train", disable=not (main and progress)
            )
            start = time.perf_counter()
            self.model.train()
            while self.step < t.steps:
                for g in self.opt.param_groups:
                    g["lr"] = lr_at(self.step, cfg)
                with torch.autocast(self.device.type, torch.bfloat16, enabled=self.amp):
                    loss, terms, z = self._batch_loss()
                if not torch.isfinite(loss):  # a named error (exit 2), not a traceback
                    raise JepalabError(
                        f"training loss became {float(loss.detach())} at step {self.step}; the "
                        "last checkpoint is intact (lower train.lr, or check the data)"
                    )
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if world > 1:
                    average_gradients(self.params, world)
                torch.nn.utils.clip_grad_norm_(self.params, t.grad_clip)
                self.opt.step()
                self.objective.after_step(self.model)
                self.step += 1
                bar.update(1)
                if self.step % t.log_every == 0 or self.step == t.steps:
                    terms = scalars(terms)
                    if world > 1:  # log the global batch's terms, not rank 0's share
                        terms = mean_over_ranks(terms, world, self.device)
                    if main:
                        terms.update(collapse_stats(z.detach()), lr=self.opt.param_groups[0]["lr"])
                        self._log(trackers, terms)
                        bar.set_postfix(
                            loss=f"{terms['loss']:.3f}", rank=f"{terms['eff_rank']:.1f}"
                        )
                if self.step % t.ckpt_every == 0 or self.step == t.steps:
                    self.save()
            bar.close()
            seconds = time.perf_counter() - start
            if world > 1:
                # Wait for rank 0's last checkpoint, then leave the group before validating:
                # a peer parked in a collective while rank 0 validates would hit the
                # collective timeout (and NCCL's watchdog) on a long validation.
                barrier()
        finally:
            if self._owns_group:
                torch.distributed.destroy_process_group()
        final = self.validate() if main else {}
        if trackers is not None:
            trackers.log("val", final, self.step)
            trackers.close()
        self.model.cpu().eval()
        return TrainResult(self.model, self.step, seconds, final, self.ckpt_path)

    def _batch_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """This rank's share of the batch -> (loss, named terms, embeddings ``(N, D)``)."""
        batch = self.train_ds.batch(self._draw(len(self.train_ds)))
        loss, terms, z = self.loss_fn(
            self.model,
            self.objective,
            self.idm,
            batch["obs"].to(self.device),
            batch["actions"].to(self.device),
            self.cfg.objective.idm_weight,
            gather_batch if self.dist.world_size > 1 else None,
            one_step=self.cfg.objective.prediction == "one-step",
            contrast=self.contrast,
            contrast_weight=self.cfg.objective.time_contrast_weight,
            neighbours=self.neighbours,
            neighbours_weight=self.cfg.objective.pixel_neighbours_weight,
        )
        return loss, terms, z.flatten(0, 1)

    @torch.no_grad()
    def validate(self, max_windows: int = 512) -> dict[str, float]:
        """Held-out prediction error (open loop, however the predictor was trained),
        collapse statistics and a linear position probe."""
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
            batch["obs"].to(self.device),
            batch["actions"].to(self.device),
            self.cfg.objective.idm_weight,
        )
        z = z.cpu()  # the probe solves on the CPU
        out = {"val_pred": float(terms["pred"]), **collapse_stats(z.flatten(0, 1))}
        if batch["states"].shape[-1] > 0:
            out.update(linear_probe(z.flatten(0, 1), batch["states"].flatten(0, 1)))
        self.model.train()
        return out

    # ---------------------------------------------------------------- logging
    def _log(self, trackers: Trackers, terms: dict[str, float]) -> None:
        trackers.log("train", terms, self.step)
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


def _import_wandb():
    """``wandb``, imported only when a run asks for it: it is an optional dependency."""
    try:
        import wandb
    except ImportError:
        raise ConfigError(
            "train.wandb_project is set but wandb is not installed: "
            "pip install wandb (or pip install jepalab[wandb])"
        ) from None
    return wandb


class Trackers:
    """Where rank 0 sends scalars: TensorBoard (``<out>/tb``) always, and a Weights & Biases
    run when ``train.wandb_project`` is set. One place, so both get the same numbers."""

    def __init__(self, cfg: RunConfig, out: Path) -> None:
        self.wandb = None
        if cfg.train.wandb_project:  # opened first: a failure leaves no TensorBoard file open
            wandb = _import_wandb()
            try:
                self.wandb = wandb.init(
                    project=cfg.train.wandb_project,
                    dir=str(out),
                    config=cfg.to_dict(),
                    name=out.resolve().name,
                )
            except Exception as e:  # not logged in, offline, bad project: the user's to fix
                raise ConfigError(
                    f"wandb.init failed for project '{cfg.train.wandb_project}': {e} "
                    "(run `wandb login`, or set WANDB_MODE=offline)"
                ) from None
        self.tb = _summary_writer(out / "tb")

    def log(self, prefix: str, scalars: dict[str, float], step: int) -> None:
        """Log ``scalars`` as ``prefix/name`` at ``step``."""
        named = {f"{prefix}/{k}": v for k, v in scalars.items()}
        for k, v in named.items():
            self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(named, step=step)

    def close(self) -> None:
        self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def load_world_model(path: str | Path) -> tuple[WorldModel, RunConfig]:
    """Load a trained world model (eval mode) and its run config from a checkpoint."""
    tensors, meta = read_checkpoint(path, KIND)
    cfg = from_dict(meta["config"])
    saved = meta["config"].get("model", {})
    if "scene_channels" not in saved:
        cfg.model.scene_channels = 0  # saved before the scene glimpse existed
    if "frame_skip" not in saved:
        cfg.model.frame_skip = 1  # saved before world-model steps could span several
    state = split_prefix(tensors, "model")
    tuned = split_prefix(tensors, TUNED)
    if tuned:  # stage two's predictor (training/rollout_tuning.py) in place of stage one's
        shape = meta.get("rollout_tuning", {})
        if not {"hidden", "layers"} <= shape.keys():
            raise CheckpointError(
                f"checkpoint {path} holds a tuned predictor but its header does not say its shape"
            )
        cfg.model.predictor_hidden, cfg.model.predictor_layers = shape["hidden"], shape["layers"]
        state = {k: v for k, v in state.items() if not k.startswith("predictor.")}
        state.update(with_prefix(tuned, "predictor"))
    model = build_model(cfg, tuple(meta["obs_shape"]), int(meta["action_dim"]))
    load_state(model, state, path)
    return model.eval(), cfg

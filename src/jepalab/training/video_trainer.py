"""Training the video JEPA (and its pixel-space twin) on plausible physics clips.

The loop, checkpoints, logging and resume are the world model's :class:`Trainer`; only
the data (procedural clips of :mod:`jepalab.envs.physics`, generated once from the seed)
and the loss differ:

    embedding:  ||Pred(s_{<t}) - y_t||^2 / ||y_{t-1} - y_t||^2 + anti-collapse(patches)
                (y: the objective's targets, e.g. an EMA encoder's maps)
    pixels:     ||x_{t-1} + Dec(change of the map) - x_t||^2 / ||x_{t-1} - x_t||^2

Every checkpoint carries the flag threshold of ``jepalab surprise``: a high percentile of
per-frame surprise on held-out plausible clips, measured with that checkpoint's weights.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..config import RunConfig, VideoConfig, from_dict
from ..envs.physics import plausible_clips
from ..errors import CheckpointError, ConfigError
from ..eval.surprise import TEMPORAL, calibrate_threshold
from ..perception.encoder import to_float_images
from ..world_model import collapse_stats
from ..world_model.objectives import AntiCollapse, EMATarget, make_objective
from ..world_model.tube_mask import at_map_resolution, tube_masks
from ..world_model.video_jepa import KERNELS, SPATIAL, STRIDES, MapEncoder, VideoJEPA
from ..world_model.video_pixel import PixelVideoModel
from ..world_model.video_predictor import PREDICTORS
from .checkpoint import load_state, read_checkpoint, split_prefix
from .distributed import DistInfo
from .trainer import Trainer

KINDS = {"embedding": "video_jepa", "pixels": "video_pixel"}
CALIBRATION_SEED = 10_000_019  # held-out plausible clips; training clips use train.seed


def check_video_config(v: VideoConfig) -> None:
    if v.spatial not in SPATIAL:
        raise ConfigError(f"video.spatial must be one of {SPATIAL}, got '{v.spatial}'")
    if v.temporal not in TEMPORAL:
        raise ConfigError(f"video.temporal must be one of {TEMPORAL}, got '{v.temporal}'")
    if v.frames <= v.context:
        raise ConfigError(
            f"video.frames ({v.frames}) must exceed video.context ({v.context}): "
            "a clip needs frames to predict"
        )
    if not 0 < v.percentile < 100:
        raise ConfigError(f"video.percentile must be in (0, 100), got {v.percentile}")
    if v.stride not in STRIDES:
        raise ConfigError(f"video.stride must be one of {STRIDES}, got {v.stride}")
    if v.encoder_kernel not in KERNELS:
        raise ConfigError(f"video.encoder_kernel must be one of {KERNELS}, got {v.encoder_kernel}")
    if v.predictor not in PREDICTORS:
        raise ConfigError(f"video.predictor must be one of {PREDICTORS}, got '{v.predictor}'")
    if v.max_offset < 0:
        raise ConfigError(f"video.max_offset must be 0 or more frames, got {v.max_offset}")
    if not 0.0 <= v.mask <= 1.0:
        raise ConfigError(f"video.mask must be a share in [0, 1], got {v.mask}")
    if not 0.0 <= v.collide <= 1.0:
        raise ConfigError(f"video.collide must be a share in [0, 1], got {v.collide}")
    if v.clips < 1 or v.calibration_clips < 1:
        raise ConfigError("video.clips and video.calibration_clips must be at least 1")


def build_video_model(cfg: RunConfig, target: str = "embedding") -> VideoJEPA:
    """The video JEPA (``target="embedding"``) or its pixel twin (``"pixels"``)."""
    v = cfg.video
    cls = {"embedding": VideoJEPA, "pixels": PixelVideoModel}[target]
    shape = (v.frame_size, v.frame_size, 3)
    masking = target == "embedding" and v.mask > 0
    model = cls(
        shape, v.channels, v.context, v.hidden, v.stride, v.predictor, masking, v.encoder_kernel
    )
    if target == "embedding" and cfg.objective.name == "ema":
        target_encoder = MapEncoder(model.frame_shape, v.channels, v.stride, v.encoder_kernel)
        model.target_encoder = target_encoder.requires_grad_(False)
    return model


def video_loss(
    model: VideoJEPA,
    objective: AntiCollapse,
    clips: torch.Tensor,
    patches: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """``clips (B, T, H, W, 3)`` uint8 -> (loss, terms, patch vectors ``(N, C)`` for the
    collapse monitor). ``mask (B, T, H, W)`` hides the predictor's input there (the JEPA
    only; the targets stay whole).

    The prediction term is the *relative* error: squared error over the squared change
    between consecutive targets (no gradient through the change). 1 means no better than
    copying the last frame. Most of a physics clip is static background, so a plain mean
    squared error is tiny once the model copies, and it never learns motion.
    """
    k = model.context
    s = model.encode(clips)
    if isinstance(model, PixelVideoModel):
        target, (pred, _) = to_float_images(clips), model.predict_frames(clips, s)
    else:
        seen = s if mask is None else model.hide(s, at_map_resolution(mask, s.shape[-2:]))
        target, (pred, _) = objective.targets(clips, s), model.predict(seen)
    change = (target[:, k:] - target[:, k - 1 : -1]).pow(2).sum().detach()
    pred_loss = (pred - target[:, k:]).pow(2).sum() / change.clamp_min(1e-8)
    # Patches of one clip are many and alike; a random subset keeps the regulariser cheap.
    flat = s.movedim(2, -1).reshape(-1, s.shape[2])
    z = flat[torch.randint(len(flat), (min(patches, len(flat)),))]
    reg, terms = objective.regularizer(z)
    loss = pred_loss + reg
    terms.update(loss=loss.detach(), pred=pred_loss.detach(), reg=reg.detach())
    return loss, terms, z


class VideoTrainer(Trainer):
    """Trains one video surprise model; checkpoints ``<out_dir>/checkpoints/last``."""

    def __init__(
        self, cfg: RunConfig, target: str = "embedding", dist: DistInfo | None = None
    ) -> None:
        if target not in KINDS:
            raise ConfigError(f"video target must be one of {list(KINDS)}, got '{target}'")
        check_video_config(cfg.video)
        self._setup(cfg, dist)
        self.loss_fn = self._compiled(video_loss)
        v = cfg.video
        self.target, self.kind = target, KINDS[target]
        gen = dict(frames=v.frames, size=v.frame_size, max_offset=v.max_offset)
        # Only the training clips are drawn for collisions: the held-out clips that set the
        # flag threshold stay what the world shows.
        self.clips = torch.from_numpy(
            plausible_clips(v.clips, seed=cfg.train.seed, collide=v.collide, **gen)
        )
        self.held_out = torch.from_numpy(
            plausible_clips(v.calibration_clips, seed=CALIBRATION_SEED, **gen)
        )
        self.model = build_video_model(cfg, target)
        if target == "embedding":
            self.objective = make_objective(cfg.objective, self.model)
            if isinstance(self.objective, EMATarget):  # one module, trained and scored alike
                self.model.target_encoder = self.objective.target_encoder
        else:
            self.objective = AntiCollapse()
        self.idm = None
        self._prepare()

    def _batch_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        # Under torchrun the relative error and the patch regulariser cover this rank's
        # slice: the same as one process's in expectation, not to the last bit.
        clips = self.clips[self._draw(len(self.clips))].to(self.device)  # uint8: cheap to move
        v = self.cfg.video
        mask = tube_masks(clips, v.mask) if self.model.mask_token is not None else None
        return self.loss_fn(self.model, self.objective, clips, v.patches, mask)

    def _meta(self) -> dict:
        v = self.cfg.video
        return {
            "target": self.target,
            "frame_shape": [v.frame_size, v.frame_size, 3],
            "spatial": v.spatial,
            "percentile": v.percentile,
            "threshold": calibrate_threshold(self.model, self.held_out, v.spatial, v.percentile),
        }

    def _check_resume(self, meta: dict) -> None:
        if predates(meta, "predictor"):
            raise CheckpointError(
                f"checkpoint {self.ckpt_path} predates video.predictor: it loads for scoring "
                "(jepalab surprise, bench --checkpoint) but cannot be resumed; train anew"
            )
        saved = saved_video_config(meta)
        if (saved.video, saved.objective) != (self.cfg.video, self.cfg.objective):
            raise CheckpointError(
                f"checkpoint {self.ckpt_path} was trained with a different video or objective "
                "config; resume with the run's own config.yaml"
            )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Held-out prediction error and the calibrated flag threshold."""
        self.model.eval()
        clips = self.held_out[:64].to(self.device)
        _, terms, z = video_loss(self.model, self.objective, clips, 4096)
        v = self.cfg.video
        self.model.train()
        return {
            "val_pred": float(terms["pred"]),
            "threshold": calibrate_threshold(self.model, self.held_out, v.spatial, v.percentile),
            **collapse_stats(z),
        }


# What checkpoints written before an option existed were trained with.
LEGACY_VIDEO = {"stride": 2, "predictor": "window", "encoder_kernel": 3, "collide": 0.0}


def predates(meta: dict, option: str) -> bool:
    """Whether a video checkpoint was written before ``video.<option>`` existed."""
    return option not in meta["config"].get("video", {})


def saved_video_config(meta: dict) -> RunConfig:
    """A video checkpoint's config, options it predates set as it was trained."""
    video = dict(meta["config"].get("video", {}))
    return from_dict({**meta["config"], "video": {**LEGACY_VIDEO, **video}})


def legacy_state(state: dict[str, torch.Tensor], meta: dict) -> dict[str, torch.Tensor]:
    """Model weights under today's names: before ``video.predictor`` existed, the window
    predictor's layers sat directly under ``predictor.`` (now ``predictor.net.``)."""
    if not predates(meta, "predictor"):
        return state
    return {re.sub(r"^predictor\.(\d)", r"predictor.net.\1", k): v for k, v in state.items()}


def load_video_model(path: str | Path) -> tuple[VideoJEPA, dict]:
    """Load a video JEPA or pixel-twin checkpoint (eval mode) and its header, which holds
    ``config``, ``target``, ``spatial``, ``percentile`` and the flag ``threshold``."""
    tensors, meta = read_checkpoint(path, tuple(KINDS.values()))
    model = build_video_model(saved_video_config(meta), meta["target"])
    load_state(model, legacy_state(split_prefix(tensors, "model"), meta), path)
    return model.eval(), meta

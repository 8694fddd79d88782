"""Training loop, checkpoints and process topology."""

from .checkpoint import read_checkpoint, run_summary, save_checkpoint
from .distributed import DistInfo, set_threads
from .trainer import Trainer, TrainResult, build_model, jepa_loss, load_world_model

__all__ = [
    "DistInfo",
    "TrainResult",
    "Trainer",
    "build_model",
    "jepa_loss",
    "load_world_model",
    "read_checkpoint",
    "run_summary",
    "save_checkpoint",
    "set_threads",
]

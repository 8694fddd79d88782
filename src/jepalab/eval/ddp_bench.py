"""``jepalab bench ddp``: does data-parallel training learn what one process learns?

Collects a small Two-Rooms dataset into the run folder (once), then trains the world model
``train.steps`` steps twice from the same initial weights on the same global batches of B
windows (see :mod:`jepalab.training.trainer`):

* ``single/``: one process, B windows per step;
* ``ddp/``: ``torchrun`` with ``processes`` ranks, each loading its B/processes slice.

The loss compared is the held-out prediction error (``val_pred``: the same held-out
windows, fp32, after the last step), the figure training is for; the training loss (mean
over ranks, smoothed over the last 20 steps) is reported beside it. Both runs see the same
data, so the gap measures data parallelism alone: with other windows (another sampling
seed) the held-out error after 200 steps moved by up to 22%, far more than the 2% asked.

Every process has one thread, so the throughput figures compare like with like: training
samples per second of one process alone and of each data-parallel process (loop time
only); their ratio is the parallel efficiency (1: communication costs nothing).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..config import RunConfig, save_config
from ..errors import JepalabError
from ..io import atomic_write_text
from ..pipeline import collect, machine
from ..training import Trainer

SMOOTH_STEPS = 20  # training loss: mean over the last this many steps


def bench_config() -> RunConfig:
    """200 Two-Rooms episodes, 200 steps of global batch 32 (a few minutes on 2 cores)."""
    cfg = RunConfig(out_dir="runs/bench-ddp")
    cfg.data.episodes = 200
    cfg.train.steps = 200
    cfg.train.warmup_steps = 20
    cfg.train.log_every = 1  # every step, for the smoothed training loss
    cfg.train.ckpt_every = cfg.train.steps
    return cfg


def _smoothed_loss(metrics: Path, last_step: int) -> float:
    rows = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln]
    losses = [r["loss"] for r in rows if r["step"] > last_step - SMOOTH_STEPS]
    return sum(losses) / len(losses)


def _train_ddp(cfg: RunConfig, processes: int) -> dict[str, Any]:
    """Train under ``torchrun`` in a subprocess; rank 0's summary line."""
    config = Path(cfg.out_dir).with_suffix(".yaml")
    save_config(cfg, config)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "jepalab",
        "train",
        "--config",
        str(config),
    ]
    # stderr (progress bar, errors) goes to the terminal; stdout holds rank 0's summary.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not summary:
        raise JepalabError(
            f"the {processes}-process training run failed (exit {proc.returncode}); "
            "its error is above"
        )
    return json.loads(summary[0])


def run_bench(cfg: RunConfig, processes: int = 2, progress: bool = True) -> dict[str, Any]:
    """Collect (unless present), train single-process and data-parallel, compare; writes
    ``<out_dir>/metrics.json`` and returns the figures."""
    t, root = cfg.train, Path(cfg.out_dir)
    if t.batch_size % processes:
        raise JepalabError(
            f"train.batch_size ({t.batch_size}) must be divisible by {processes} processes"
        )
    cfg = copy.deepcopy(cfg)
    cfg.data.path = str(cfg.data_path.resolve())
    if not cfg.data_path.exists():
        collect(cfg, progress)

    single = copy.deepcopy(cfg)
    single.out_dir, single.train.threads = str(root / "single"), 1
    result = Trainer(single).fit(progress=progress)

    ddp = copy.deepcopy(cfg)
    ddp.out_dir, ddp.train.threads = str(root / "ddp"), 1
    summary = _train_ddp(ddp, processes)

    per_process = t.batch_size // processes * t.steps / summary["train_seconds"]
    single_rate = t.batch_size * t.steps / result.train_seconds
    loss_single, loss_ddp = result.final["val_pred"], summary["val_pred"]
    train_single = _smoothed_loss(root / "single" / "metrics.jsonl", t.steps)
    train_ddp = _smoothed_loss(root / "ddp" / "metrics.jsonl", t.steps)
    figures = {
        "benchmark": "ddp",
        "steps": t.steps,
        "global_batch": t.batch_size,
        "processes": processes,
        "loss": "held-out prediction error (val_pred) after the last step",
        "loss_single": loss_single,
        "loss_ddp": loss_ddp,
        "relative_gap": abs(loss_ddp - loss_single) / loss_single,
        "train_loss_single": train_single,
        "train_loss_ddp": train_ddp,
        "train_loss_relative_gap": abs(train_ddp - train_single) / train_single,
        "samples_per_second_per_process": per_process,
        "samples_per_second_single": single_rate,
        "parallel_efficiency": per_process / single_rate,
        "threads_per_process": 1,
        "train_seconds_single": result.train_seconds,
        "train_seconds_ddp": summary["train_seconds"],
        "val_single": result.final,
        "val_ddp": summary,
        "episodes": cfg.data.episodes,
        "machine": machine(),
    }
    atomic_write_text(root / "metrics.json", json.dumps(figures, indent=2))
    return figures

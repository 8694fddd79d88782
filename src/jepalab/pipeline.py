"""The loop collect -> train -> evaluate as plain functions (the Python API behind the CLI).

import jepalab
cfg = jepalab.RunConfig(out_dir="runs/mine")
jepalab.collect(cfg)
result = jepalab.train(cfg)
print(jepalab.evaluate(result.model, cfg).success_rate)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig, save_config
from .data import EpisodeDataset
from .data import collect as collect_episodes
from .envs import config_kwargs
from .errors import JepalabError
from .eval import EvalResult, plot_training_curves
from .eval import evaluate as evaluate_model
from .eval.evaluate import Learned, with_memory_modules
from .io import atomic_write_text
from .training import (
    Trainer,
    TrainResult,
    load_world_model,
    read_checkpoint,
    rollout_tuning,
    run_summary,
)
from .training.trainer import KIND
from .world_model import WorldModel
from .world_model.model_ensemble import WorldModelEnsemble


def collect(cfg: RunConfig, progress: bool = True) -> Path:
    """Record exploration episodes into ``cfg.data_path`` (HDF5)."""
    d = cfg.data
    save_config(cfg, Path(cfg.out_dir) / "config.yaml")
    return collect_episodes(
        cfg.env.name,
        cfg.data_path,
        episodes=d.episodes,
        episode_len=d.episode_len,
        seed=d.seed,
        workers=d.workers,
        env_kwargs=config_kwargs(cfg.env),
        progress=progress,
        policy=d.policy,
        obs_size=d.obs_size,
    )


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train the world model on ``cfg.data_path``; checkpoints go to ``<out_dir>/checkpoints``.
    With ``train.rollout_tuning_steps``, the predictor is then tuned to roll out
    (:mod:`.training.rollout_tuning`; its time counts as training)."""
    rollout_tuning.check_config(cfg)
    trainer = Trainer(cfg)
    result = trainer.fit(resume=resume, progress=progress)
    if trainer.dist.is_main:  # under torchrun only rank 0 touches the run folder
        if cfg.train.rollout_tuning_steps > 0:
            t0 = time.perf_counter()
            rollout_tuning.tune_rollouts(cfg, progress)
            result = dataclasses.replace(
                result,
                model=load_world_model(result.checkpoint)[0],
                train_seconds=result.train_seconds + time.perf_counter() - t0,
            )
        plot_training_curves(
            Path(cfg.out_dir) / "metrics.jsonl", Path(cfg.out_dir) / "train_curves.png"
        )
    return result


def world_model(
    cfg: RunConfig, checkpoint: str | None = None, progress: bool = True
) -> tuple[WorldModel, RunConfig, float | None]:
    """The world model of ``checkpoint`` with its run's config (model, world, data, planner
    and cost settings), or one trained now as ``cfg`` says (collecting its data first if
    needed); returns it, the config to use it with, and the training seconds (None if
    loaded)."""
    if checkpoint:
        model, saved = load_world_model(checkpoint)
        cfg = copy.deepcopy(cfg)
        cfg.model, cfg.env, cfg.data = saved.model, saved.env, saved.data
        cfg.data.path = str(saved.data_path)
        cfg.planner, cfg.cost = saved.planner, saved.cost
        return model, cfg, None
    if not cfg.data_path.exists():
        collect(cfg, progress)
    trained = train(cfg, progress=progress)
    return trained.model, cfg, trained.train_seconds


def evaluate(
    model: WorldModel, cfg: RunConfig, progress: bool = True, learned: Learned | None = None
) -> EvalResult:
    """Goal-reaching success on held-out seeded episodes; writes ``<out_dir>/eval``. The agent
    uses the ``learned`` modules (critic, Mode-1, high level, gate, hazard probe, ensemble,
    detours, routes); with ``agent.detour_patience`` and no detours given, they are banked
    from the run's dataset, and with ``agent.route_every`` and no routes given, the routes'
    episodic memory is built from it."""
    seed_range = None
    if cfg.data_path.exists():
        with EpisodeDataset(cfg.data_path) as ds:
            seed_range = ds.seed_range
    learned = with_memory_modules(model, cfg, learned, progress)
    out = Path(cfg.out_dir) / "eval"
    return evaluate_model(model, cfg, out, seed_range, progress, learned)


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def evaluate_trained(
    cfg: RunConfig,
    checkpoint: str | Path,
    progress: bool = True,
    ensemble: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """:func:`run_all`'s summary for a world model trained before: ``checkpoint`` (a file or
    run folder) evaluated under ``cfg``'s planner, agent and evaluation settings, with its
    own model settings and dataset; the training figures are read from its run's
    ``metrics.json``, stage two's from the checkpoint.

    ``ensemble``: more trained runs of the same world whose models plan beside
    ``checkpoint``'s as one (:class:`~jepalab.world_model.model_ensemble.WorldModelEnsemble`);
    ``train_seconds`` is then the members' sum and ``members`` lists each one's. A run
    folder that :func:`run_all` filled with several world models (``model-<i>``) stands
    for all of them."""
    t0 = time.perf_counter()
    model, saved, paths = load_world_models(checkpoint, ensemble, cfg.env.name)
    cfg = copy.deepcopy(cfg)
    cfg.model, cfg.data = saved.model, saved.data
    if not cfg.data.path:  # the dataset in the trained run's folder
        cfg.data.path = str(saved.data_path)
    keys = ("collect_seconds", "train_seconds", "train_steps", "val")
    runs = []
    for path in paths:
        summary = run_summary(path)
        runs.append({"checkpoint": str(path), **{k: summary.get(k) for k in keys}})
    training = {k: runs[0][k] for k in keys}
    if len(paths) > 1:
        training = _with_members(training, runs)
    result = evaluate(model, cfg, progress)
    return _summary(cfg, result, training, paths[0], t0)


def member_runs(checkpoint: str | Path) -> list[Path]:
    """The world models a checkpoint stands for: a run folder that :func:`run_all` filled
    with several (``model-<i>``, no ``checkpoints/`` of its own) -> each of them in order;
    anything else -> itself."""
    run = Path(checkpoint)
    if run.is_dir() and not (run / "checkpoints").exists():
        folders = [f for f in run.glob("model-*") if f.name[6:].isdigit()]
        if folders:
            return sorted(folders, key=lambda f: int(f.name[6:]))
    return [run]


def load_world_models(
    checkpoint: str | Path, ensemble: Sequence[str | Path] = (), env_name: str | None = None
) -> tuple[WorldModel, RunConfig, list[Path]]:
    """The world model of ``checkpoint`` (a file or run folder) with those of the
    ``ensemble`` runs beside it: (model, the first run's config, every member's path).

    One member gives its own model; several plan as one
    (:class:`~jepalab.world_model.model_ensemble.WorldModelEnsemble`). A run folder with
    several world models stands for all of them (:func:`member_runs`). Every member must
    be a model of ``env_name`` (default: the first one's world) with the same frame skip."""
    paths = [p for c in (checkpoint, *ensemble) for p in member_runs(c)]
    loaded = [load_world_model(path) for path in paths]
    saved = loaded[0][1]
    env_name = env_name or saved.env.name
    for path, (_, other) in zip(paths, loaded, strict=True):
        if other.env.name != env_name:
            raise JepalabError(
                f"{path} is a world model of {other.env.name!r}; this evaluation is in {env_name!r}"
            )
        # Observation and action shapes the ensemble checks; the time a step spans it cannot.
        if other.model.frame_skip != saved.model.frame_skip:
            raise JepalabError(
                f"{path} steps {other.model.frame_skip} environment steps, {paths[0]} "
                f"{saved.model.frame_skip}: ensemble members must agree"
            )
    models = [model for model, _ in loaded]
    return (models[0] if len(models) == 1 else WorldModelEnsemble(models)), saved, paths


def _with_members(training: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``training`` figures of an ensemble whose members' figures are ``runs``: their
    training seconds summed (None if one is unknown), and each member's under ``members``."""
    seconds = [r["train_seconds"] for r in runs]
    return {**training, "train_seconds": None if None in seconds else sum(seconds), "members": runs}


def _summary(
    cfg: RunConfig,
    result: EvalResult,
    training: dict[str, Any],
    checkpoint: str | Path,
    t0: float,
) -> dict[str, Any]:
    """The evaluation ``result``, the ``training`` figures and the run's facts as one
    summary, written to ``<out_dir>/metrics.json``."""
    summary = {
        **result.to_dict(),
        **training,
        "seconds": time.perf_counter() - t0,
        "machine": machine(),
        "checkpoint": str(checkpoint),
    }
    tuning = read_checkpoint(checkpoint, KIND)[1].get("rollout_tuning")
    if tuning:  # stage two's errors before and after (and how its agent did, if it played)
        summary["rollout_tuning"] = tuning
    atomic_write_text(Path(cfg.out_dir) / "metrics.json", json.dumps(summary, indent=2))
    return summary


def run_all(cfg: RunConfig, progress: bool = True, world_models: int = 1) -> dict[str, Any]:
    """collect (unless the dataset exists) -> train -> evaluate; returns a summary dict.

    ``world_models > 1``: train that many world models on the one dataset, from training
    seeds ``train.seed``, ``train.seed + 1``, ..., each in ``<out_dir>/model-<i>``, and
    evaluate them planning as one
    (:class:`~jepalab.world_model.model_ensemble.WorldModelEnsemble`); ``train_seconds`` is
    then their sum and ``members`` lists each one's figures."""
    if world_models < 1:
        raise JepalabError(f"world_models must be at least 1, got {world_models}")
    t0 = time.perf_counter()
    if not cfg.data_path.exists():
        collect(cfg, progress)
    collect_s = time.perf_counter() - t0
    models, runs = [], []
    for i in range(world_models):
        member = cfg
        if world_models > 1:
            member = copy.deepcopy(cfg)
            member.out_dir = str(Path(cfg.out_dir) / f"model-{i}")
            member.data.path = str(cfg.data_path)
            member.train.seed = cfg.train.seed + i
        trained = train(member, progress=progress)
        models.append(trained.model)
        figures = {
            "train_seconds": trained.train_seconds,
            "train_steps": trained.steps,
            "val": trained.final,
        }
        if world_models > 1:  # each member's training figures, for evaluate_trained
            atomic_write_text(Path(member.out_dir) / "metrics.json", json.dumps(figures, indent=2))
        runs.append({"checkpoint": str(trained.checkpoint), **figures})
    model = models[0] if world_models == 1 else WorldModelEnsemble(models)
    result = evaluate(model, cfg, progress)
    first = {k: v for k, v in runs[0].items() if k != "checkpoint"}
    training = {"collect_seconds": collect_s, **first}
    if world_models > 1:
        training = _with_members(training, runs)
    return _summary(cfg, result, training, runs[0]["checkpoint"], t0)

"""Shared fixtures: a tiny config and a tiny collected dataset, made once per session."""

import pytest
import torch

from jepalab.config import RunConfig, apply_overrides, parse_overrides

torch.set_num_threads(1)

TINY = [
    "--data.episodes",
    "12",
    "--data.episode_len",
    "24",
    "--data.window",
    "4",
    "--data.workers",
    "1",
    "--data.val_fraction",
    "0.25",
    "--model.channels",
    "4,8",
    "--model.embed_dim",
    "8",
    "--model.predictor_hidden",
    "32",
    "--train.steps",
    "6",
    "--train.batch_size",
    "8",
    "--train.warmup_steps",
    "2",
    "--train.log_every",
    "2",
    "--train.ckpt_every",
    "3",
    "--train.threads",
    "1",
    "--planner.samples",
    "16",
    "--planner.horizon",
    "4",
    "--planner.iterations",
    "1",
    "--planner.elites",
    "4",
    "--eval.episodes",
    "2",
    "--eval.batch_envs",
    "2",
    "--eval.gifs",
    "1",
    "--eval.latency_replans",
    "3",
]


def tiny_config(out_dir, *extra: str) -> RunConfig:
    cfg = RunConfig(out_dir=str(out_dir))
    return apply_overrides(cfg, parse_overrides([*TINY, *extra]))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Path of a small Two-Rooms dataset collected once for the whole test session."""
    from jepalab.pipeline import collect

    cfg = tiny_config(tmp_path_factory.mktemp("data"))
    return collect(cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_model(tiny_data, tmp_path_factory):
    """A tiny world model trained for 4 steps on ``tiny_data``: (model, cfg, run folder)."""
    from jepalab.pipeline import train
    from jepalab.training import load_world_model

    out = tmp_path_factory.mktemp("tiny-model")
    train(tiny_config(out, "--data.path", str(tiny_data), "--train.steps", "4"), progress=False)
    model, cfg = load_world_model(out)
    return model, cfg, out

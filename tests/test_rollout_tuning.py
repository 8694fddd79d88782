"""Stage two: the predictor tuned on open-loop rollouts, the encoder frozen."""

from __future__ import annotations

import pytest
import torch

from jepalab.errors import CheckpointError, ConfigError
from jepalab.pipeline import train
from jepalab.training import load_world_model
from jepalab.training.checkpoint import read_checkpoint, save_checkpoint
from jepalab.training.rollout_tuning import fresh_predictor, tune_rollouts
from jepalab.training.trainer import KIND

from .conftest import tiny_config


def _config(out, tiny_data, *extra: str):
    """The tiny config on ``tiny_data``, without the scene glimpse the tuning does not read."""
    return tiny_config(out, "--data.path", str(tiny_data), "--model.scene_channels", "0", *extra)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_tuning_trains_the_predictor_alone_and_rewrites_the_checkpoint(tmp_path, tiny_data):
    cfg = _config(tmp_path, tiny_data)
    train(cfg, progress=False)
    untuned, _ = load_world_model(tmp_path)
    checkpoint = tmp_path / "checkpoints" / "last.safetensors"
    stage_one = read_checkpoint(checkpoint, KIND)[0]
    cfg.train.rollout_tuning_steps, cfg.train.rollout_tuning_horizon = 40, 3
    cfg.train.rollout_tuning_batch, cfg.train.rollout_tuning_lr = 32, 1e-3
    figures = tune_rollouts(cfg, progress=False)
    tuned, _ = load_world_model(tmp_path)
    rewritten = read_checkpoint(checkpoint, KIND)[0]
    for k, v in stage_one.items():  # stage one's state stays, for an exact resume
        torch.testing.assert_close(rewritten[k], v)

    assert len(figures["before"]) == len(figures["after"]) == 3
    assert sum(figures["after"]) < sum(figures["before"])  # open-loop error held out
    for k, v in _state(untuned.encoder).items():
        torch.testing.assert_close(tuned.encoder.state_dict()[k], v)
    assert any(
        not torch.equal(tuned.predictor.state_dict()[k], v)
        for k, v in _state(untuned.predictor).items()
    )
    # tuned once: asking again (a resumed, finished run) changes nothing
    written = checkpoint.read_bytes()
    assert tune_rollouts(cfg, progress=False) == figures
    assert checkpoint.read_bytes() == written


def test_a_fresh_predictor_of_its_own_shape_starts_from_a_new_initialisation(tmp_path, tiny_data):
    cfg = _config(tmp_path, tiny_data)
    train(cfg, progress=False)
    trained, _ = load_world_model(tmp_path)
    cfg.train.rollout_tuning_steps, cfg.train.rollout_tuning_horizon = 1, 3
    cfg.train.rollout_tuning_hidden, cfg.train.rollout_tuning_layers = 24, 3
    cfg.train.rollout_tuning_lr = 1e-12  # one step that moves nothing: the initialisation
    tune_rollouts(cfg, progress=False)
    tuned, tuned_cfg = load_world_model(tmp_path)

    assert (tuned_cfg.model.predictor_hidden, tuned_cfg.model.predictor_layers) == (24, 3)
    torch.manual_seed(cfg.train.seed)
    init = fresh_predictor(cfg, trained).state_dict()
    assert init.keys() == tuned.predictor.state_dict().keys()
    assert init["net.0.weight"].shape != trained.predictor.state_dict()["net.0.weight"].shape
    for k, v in tuned.predictor.state_dict().items():
        torch.testing.assert_close(v, init[k])
    for k, v in _state(trained.encoder).items():
        torch.testing.assert_close(tuned.encoder.state_dict()[k], v)
    # resuming the finished run goes on from stage one's state, and tunes nothing again
    checkpoint = tmp_path / "checkpoints" / "last.safetensors"
    written = checkpoint.read_bytes()
    result = train(cfg, resume=True, progress=False)
    assert checkpoint.read_bytes() == written
    assert result.model.predictor.state_dict()["net.0.weight"].shape == init["net.0.weight"].shape


def test_the_pipeline_tunes_after_training_and_a_bad_horizon_is_named(tmp_path, tiny_data):
    cfg = _config(
        tmp_path,
        tiny_data,
        "--train.rollout_tuning_steps",
        "5",
        "--train.rollout_tuning_horizon",
        "2",
    )
    result = train(cfg, progress=False)
    tuned, _ = load_world_model(result.checkpoint)
    for k, v in tuned.predictor.state_dict().items():  # the result's model is the tuned one
        torch.testing.assert_close(result.model.predictor.state_dict()[k], v)

    b = tmp_path / "b"
    other = _config(b, tiny_data)
    train(other, progress=False)
    other.train.rollout_tuning_steps, other.train.rollout_tuning_horizon = 5, 10_000
    before = (b / "checkpoints" / "last.safetensors").read_bytes()
    with pytest.raises(ConfigError, match=r"two episodes longer than 10000"):
        tune_rollouts(other, progress=False)
    assert (b / "checkpoints" / "last.safetensors").read_bytes() == before


def test_the_agent_plays_first_and_its_figures_are_kept(tmp_path, tiny_data):
    cfg = _config(tmp_path, tiny_data)
    train(cfg, progress=False)
    cfg.train.rollout_tuning_steps, cfg.train.rollout_tuning_horizon = 40, 2
    cfg.train.rollout_tuning_batch, cfg.train.rollout_tuning_lr = 32, 1e-3
    cfg.train.rollout_tuning_agent_episodes = 4
    figures = tune_rollouts(cfg, progress=False)
    header = read_checkpoint(tmp_path / "checkpoints" / "last.safetensors", KIND)[1]
    tuning = header["rollout_tuning"]

    assert tuning["agent_episodes"] == 4 and 0.0 <= tuning["agent_success"] <= 1.0
    assert figures.keys() == {"before", "after", "agent_before", "agent_after"}
    assert all(len(v) == 2 for v in figures.values())
    # the held-out agent episode is predicted better after tuning on the others
    assert sum(figures["agent_after"]) < sum(figures["agent_before"])
    assert tune_rollouts(cfg, progress=False) == figures  # tuned once


def test_a_later_round_tunes_on_the_tuned_agents_episodes_and_resumes_where_it_stopped(
    tmp_path, tiny_data
):
    cfg = _config(tmp_path, tiny_data)
    train(cfg, progress=False)
    cfg.train.rollout_tuning_steps, cfg.train.rollout_tuning_horizon = 30, 2
    cfg.train.rollout_tuning_batch, cfg.train.rollout_tuning_lr = 32, 1e-3
    cfg.train.rollout_tuning_agent_episodes = 4
    checkpoint = tmp_path / "checkpoints" / "last.safetensors"
    first = tune_rollouts(cfg, progress=False)
    after_one, _ = load_world_model(tmp_path)
    # a second round asked of the finished run (as `jepalab train --resume` would)
    cfg.train.rollout_tuning_rounds, cfg.train.rollout_tuning_round_episodes = 2, 4
    cfg.train.rollout_tuning_round_steps = 40
    figures = tune_rollouts(cfg, progress=False)
    tuning = read_checkpoint(checkpoint, KIND)[1]["rollout_tuning"]
    after_two, _ = load_world_model(tmp_path)

    assert tuning["rounds"] == 2 and tuning["round2_agent_episodes"] == 4
    assert 0.0 <= tuning["round2_agent_success"] <= 1.0
    assert {k: figures[k] for k in first} == first  # round one's figures stay
    assert {"round2_agent_before", "round2_agent_after", "round2_after"} <= figures.keys()
    # the held-out episode of the tuned agent is predicted better after the round
    assert sum(figures["round2_agent_after"]) < sum(figures["round2_agent_before"])
    assert any(
        not torch.equal(after_two.predictor.state_dict()[k], v)
        for k, v in _state(after_one.predictor).items()
    )
    for k, v in _state(after_one.encoder).items():
        torch.testing.assert_close(after_two.encoder.state_dict()[k], v)
    written = checkpoint.read_bytes()
    assert tune_rollouts(cfg, progress=False) == figures  # both rounds played: nothing more
    assert checkpoint.read_bytes() == written


def test_a_bad_tuning_setting_fails_before_training(tmp_path, tiny_data):
    for key, value, message in (
        ("horizon", "0", r"rollout_tuning_horizon must be >= 1, got 0"),
        ("steps", "-1", r"rollout_tuning_steps must be >= 0, got -1"),
        ("layers", "0", r"rollout_tuning_layers >= 1, got 0 and 0"),
        ("agent_episodes", "1", r"rollout_tuning_agent_episodes must be 0 .* >= 2 .* got 1"),
        ("rounds", "0", r"rollout_tuning_rounds must be >= 1, got 0"),
    ):
        extra = ("--train.rollout_tuning_steps", "5", f"--train.rollout_tuning_{key}", value)
        cfg = _config(tmp_path / key, tiny_data, *extra)
        with pytest.raises(ConfigError, match=message):
            train(cfg, progress=False)
        assert not (tmp_path / key / "checkpoints").exists()
    extra = ("--train.rollout_tuning_steps", "5", "--train.rollout_tuning_rounds", "2")
    cfg = _config(tmp_path / "r", tiny_data, *extra, "--train.rollout_tuning_round_episodes", "1")
    with pytest.raises(ConfigError, match=r"round_episodes >= 2 .* got 1 and 4000"):
        train(cfg, progress=False)
    assert not (tmp_path / "r" / "checkpoints").exists()
    # the agent needs tasks to play
    extra = ("--train.rollout_tuning_steps", "5", "--train.rollout_tuning_agent_episodes", "4")
    cfg = _config(tmp_path / "g", tiny_data, *extra, "--env.name", "CartPole-v1")
    with pytest.raises(ConfigError, match=r"world with tasks .* 'CartPole-v1' has none"):
        train(cfg, progress=False)
    assert not (tmp_path / "g" / "checkpoints").exists()
    # the scene glimpse (the tiny config's default) is not read by the tuning yet
    cfg = tiny_config(tmp_path / "s", "--data.path", str(tiny_data))
    cfg.train.rollout_tuning_steps = 5
    with pytest.raises(ConfigError, match=r"scene glimpse"):
        train(cfg, progress=False)


def test_a_tuned_predictor_without_its_shape_in_the_header_is_named(tmp_path, tiny_data):
    cfg = _config(tmp_path, tiny_data, "--train.rollout_tuning_steps", "2")
    train(cfg, progress=False)
    checkpoint = tmp_path / "checkpoints" / "last.safetensors"
    tensors, meta = read_checkpoint(checkpoint, KIND)
    del meta["rollout_tuning"]["hidden"]
    save_checkpoint(tmp_path / "broken.safetensors", tensors, meta)
    with pytest.raises(CheckpointError, match=r"broken.safetensors holds a tuned predictor"):
        load_world_model(tmp_path / "broken.safetensors")

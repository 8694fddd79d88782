"""Trainer, checkpoints and resume: round-trips are exact and bad files are refused."""

import pytest
import torch
from safetensors.torch import load_file

from jepalab.errors import CheckpointError
from jepalab.training import Trainer, load_world_model, read_checkpoint
from jepalab.training.checkpoint import save_checkpoint

from .conftest import tiny_config


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("objective", ["vicreg", "sigreg", "ema"])
def test_training_runs_and_checkpoint_round_trips(tmp_path, tiny_data, objective):
    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), "--objective.name", objective)
    result = Trainer(cfg).fit(progress=False)
    assert result.steps == 6 and result.checkpoint.exists()
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "metrics.jsonl").exists()
    assert {"val_pred", "eff_rank", "probe_rmse"} <= set(result.final)
    model, saved = load_world_model(result.checkpoint)
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    assert saved.objective.name == objective


@pytest.mark.parametrize(
    "terms",
    [
        (),
        # Terms with a queue of recent batches: the queue is saved, or the resumed run's
        # negatives (and so its weights) would differ from the uninterrupted run's.
        ("--objective.time_contrast_weight", "0.5", "--objective.time_contrast_queue", "64",
         "--objective.pixel_neighbours_weight", "0.5", "--objective.pixel_neighbours_queue", "32"),
    ],
    ids=["plain", "queued-terms"],
)  # fmt: skip
def test_resume_is_exact(tmp_path, tiny_data, terms):
    args = ("--data.path", str(tiny_data), *terms)
    straight = Trainer(tiny_config(tmp_path / "a", *args))
    straight.fit(progress=False)

    cfg = tiny_config(tmp_path / "b", *args, "--train.steps", "3")
    Trainer(cfg).fit(progress=False)  # stops at step 3 with a checkpoint
    cfg.train.steps = 6
    resumed = Trainer(cfg)
    resumed.fit(resume=True, progress=False)
    a, b = _params(straight.model), _params(resumed.model)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    if terms:
        assert len(resumed.contrast.queue) == len(straight.contrast.queue) > 0
        assert torch.equal(resumed.neighbours.queue_p, straight.neighbours.queue_p)


def test_bad_checkpoints_are_refused(tmp_path, tiny_data):
    with pytest.raises(CheckpointError, match="not found"):
        load_world_model(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_world_model(garbage)
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, {"x": torch.zeros(2)}, {"kind": "video_jepa"})
    with pytest.raises(CheckpointError, match="'video_jepa' model, not a 'world_model'"):
        load_world_model(other)

    cfg = tiny_config(tmp_path / "run", "--data.path", str(tiny_data))
    ckpt = Trainer(cfg).fit(progress=False).checkpoint
    data = ckpt.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(truncated, "world_model")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, {"x": torch.ones(3)}, {"kind": "world_model"})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("jepalab.training.checkpoint.save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"x": torch.zeros(3)}, {"kind": "world_model"})
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
    assert torch.equal(load_file(str(path))["x"], torch.ones(3))


def test_resume_on_a_dataset_with_other_actions_is_refused(tmp_path, tiny_data):
    import numpy as np

    from jepalab.data import EpisodeWriter
    from jepalab.errors import DataError

    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data))
    Trainer(cfg).fit(progress=False)
    other = tmp_path / "three_d_actions.h5"
    with EpisodeWriter(other, "two-rooms", (65, 65, 3), action_dim=3) as w:
        for seed in range(4):
            w.add_episode(np.zeros((24, 65, 65, 3), np.uint8), np.zeros((23, 3)), None, seed)
    cfg.data.path = str(other)
    with pytest.raises(DataError, match=r"actions of dim 3.*dim 2"):
        Trainer(cfg).resume()


def test_one_step_prediction_starts_every_step_from_the_encoded_frame(tiny_data, tiny_model):
    from jepalab.data import WindowDataset
    from jepalab.training import jepa_loss
    from jepalab.world_model.objectives import VICReg

    model, _, _ = tiny_model  # reads a scene glimpse: each window's steps share its scene
    batch = WindowDataset(tiny_data, window=4, in_memory=True).batch(range(6))
    obs, actions = batch["obs"], batch["actions"]

    def pred_term(obs, actions, one_step):
        return jepa_loss(model, VICReg(), None, obs, actions, 0.0, one_step=one_step)[1]["pred"]

    with torch.no_grad():
        z = model.encode(obs)
        scene = model.scene_map(obs[:, 0])
        steps = [model.step(z[:, k], actions[:, k], scene) for k in range(3)]
        expected = (torch.stack(steps, 1) - z[:, 1:]).pow(2).mean()
        assert pred_term(obs, actions, True) == pytest.approx(float(expected), rel=1e-5)
        # one step from the first frame is the same under both; later steps are not
        two = pred_term(obs[:, :2], actions[:, :1], True)
        assert two == pytest.approx(pred_term(obs[:, :2], actions[:, :1], False), rel=1e-6)
        assert pred_term(obs, actions, True) != pytest.approx(
            pred_term(obs, actions, False), rel=1e-3
        )


@pytest.mark.parametrize("objective", ["vicreg", "sigreg"])
def test_the_loss_compiles_as_one_graph(tiny_data, tiny_model, objective):
    """Terms stay on the device as tensors: a number read off it mid-loss (``.item()``)
    breaks ``torch.compile``'s graph (and waits for a GPU every step)."""
    from jepalab.data import WindowDataset
    from jepalab.training import jepa_loss
    from jepalab.training.trainer import scalars
    from jepalab.world_model.objectives import SIGReg, VICReg

    model, _, _ = tiny_model
    batch = WindowDataset(tiny_data, window=4, in_memory=True).batch(range(6))
    reg = VICReg() if objective == "vicreg" else SIGReg()
    args = (model, reg, None, batch["obs"], batch["actions"], 0.0)
    torch._dynamo.reset()
    assert torch._dynamo.explain(jepa_loss)(*args).graph_break_count == 0
    loss, terms, _ = jepa_loss(*args)
    floats = scalars(terms)
    assert floats["loss"] == pytest.approx(loss.item()) and all(
        isinstance(v, float) for v in floats.values()
    )


def test_one_step_training_runs_and_a_bad_prediction_is_named(tmp_path, tiny_data):
    from jepalab.errors import ConfigError

    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), "--objective.prediction", "one-step")
    result = Trainer(cfg).fit(progress=False)
    assert result.steps == 6 and load_world_model(result.checkpoint)[1].objective.prediction == (
        "one-step"
    )
    cfg.objective.prediction = "teacher"
    with pytest.raises(ConfigError, match=r"objective\.prediction must be one of"):
        Trainer(cfg)


@pytest.mark.parametrize(
    ("term", "module", "queue", "bad", "named"),
    [
        ("time_contrast", "contrast", "queue", "time_contrast_temperature", "_temperature > 0"),
        ("pixel_neighbours", "neighbours", "queue_z", "pixel_neighbours_blur", "_blur > 0"),
    ],
)
def test_an_auxiliary_term_trains_and_a_bad_setting_is_named(
    tmp_path, tiny_data, term, module, queue, bad, named
):
    from jepalab.errors import ConfigError

    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), f"--objective.{term}_weight", "1")
    trainer = Trainer(cfg)
    trainer.fit(progress=False)
    assert len(getattr(getattr(trainer, module), queue)) > 0  # it ran, and queued frames
    assert f'"{term}"' in (tmp_path / "metrics.jsonl").read_text()
    setattr(cfg.objective, bad, 0.0)
    with pytest.raises(ConfigError, match=named):
        Trainer(cfg)


def test_a_non_finite_loss_stops_training_with_a_named_error(
    tmp_path, tiny_data, monkeypatch, capsys
):
    from jepalab.cli import main

    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), "--train.steps", "3")
    Trainer(cfg).fit(progress=False)  # a checkpoint at step 3
    written = (tmp_path / "checkpoints" / "last.safetensors").read_bytes()

    real = Trainer._batch_loss

    def nan_loss(self):
        loss, terms, z = real(self)
        return loss * float("nan"), terms, z

    monkeypatch.setattr(Trainer, "_batch_loss", nan_loss)
    argv = ["train", "--out", str(tmp_path), "--resume", "--data.path", str(tiny_data)]
    argv += ["--train.steps", "6", "--train.threads", "1"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "training loss became nan at step 3" in capsys.readouterr().err
    assert (tmp_path / "checkpoints" / "last.safetensors").read_bytes() == written

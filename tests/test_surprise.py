"""Video training, surprise scores, streaming and the surprise / bench commands."""

import json

import numpy as np
import pytest
import torch

from jepalab.config import RunConfig, apply_overrides, parse_overrides
from jepalab.envs.physics import plausible_clips
from jepalab.envs.violations import make_pairs
from jepalab.errors import CheckpointError, ConfigError
from jepalab.eval.surprise import (
    auroc,
    flagged_moments,
    frame_surprise,
    frame_surprises,
    more_surprising,
    pair_figures,
    score_pairs,
    stream_surprise,
)
from jepalab.training import load_world_model
from jepalab.training.checkpoint import read_checkpoint, save_checkpoint
from jepalab.training.video_trainer import (
    VideoTrainer,
    load_video_model,
    saved_video_config,
    video_loss,
)
from jepalab.world_model.objectives import AntiCollapse
from jepalab.world_model.video_jepa import SPATIAL, VideoJEPA
from jepalab.world_model.video_pixel import PixelVideoModel
from jepalab.world_model.video_predictor import PREDICTORS

from .test_cli import jepalab

TINY_VIDEO = [
    "--video.clips", "6",
    "--video.frames", "6",
    "--video.context", "2",
    "--video.channels", "8",
    "--video.hidden", "8",
    "--video.patches", "256",
    "--video.calibration_clips", "4",
    "--video.pairs_per_type", "2",
    "--train.steps", "4",
    "--train.batch_size", "2",
    "--train.warmup_steps", "1",
    "--train.log_every", "2",
    "--train.ckpt_every", "2",
    "--train.threads", "1",
]  # fmt: skip


def tiny_video_config(out_dir, *extra: str) -> RunConfig:
    return apply_overrides(RunConfig(out_dir=str(out_dir)), parse_overrides([*TINY_VIDEO, *extra]))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    cfg = tiny_video_config(tmp_path_factory.mktemp("video"))
    return VideoTrainer(cfg).fit(progress=False)


def test_video_training_round_trips_with_a_calibrated_threshold(tiny_checkpoint):
    result = tiny_checkpoint
    assert result.steps == 4 and {"val_pred", "threshold", "eff_rank"} <= set(result.final)
    model, meta = load_video_model(result.checkpoint)
    assert isinstance(model, VideoJEPA) and meta["target"] == "embedding"
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    assert np.isfinite(meta["threshold"]) and meta["threshold"] > 0
    assert meta["threshold"] == pytest.approx(result.final["threshold"])


@pytest.mark.parametrize("target", ["embedding", "pixels"])
def test_video_resume_is_exact(tmp_path, target):
    straight = VideoTrainer(tiny_video_config(tmp_path / "a"), target)
    straight.fit(progress=False)
    cfg = tiny_video_config(tmp_path / "b", "--train.steps", "2")
    VideoTrainer(cfg, target).fit(progress=False)
    cfg.train.steps = 4
    resumed = VideoTrainer(cfg, target)
    resumed.fit(resume=True, progress=False)
    a, b = _state(straight.model), _state(resumed.model)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_checkpoint_kinds_are_not_confused(tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="'video_jepa' model, not a 'world_model'"):
        load_world_model(tiny_checkpoint.checkpoint)
    with pytest.raises(ConfigError, match=r"video\.spatial"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.spatial", "median"))
    with pytest.raises(ConfigError, match=r"must exceed video\.context"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.frames", "2"))
    with pytest.raises(ConfigError, match=r"video\.max_offset"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.max_offset", "-1"))
    with pytest.raises(ConfigError, match=r"video\.predictor must be one of"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.predictor", "lstm"))
    with pytest.raises(ConfigError, match=r"video\.collide must be a share"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.collide", "1.5"))


def test_auroc_matches_its_definition():
    assert auroc(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert auroc(np.array([1.0]), np.array([2.0, 3.0])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 50), rng.normal(0, 1, 40)
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(pos, neg) == pytest.approx(brute)


def test_flagged_moments_are_runs_above_the_threshold():
    e = np.array([0, 5, 6, 0, 0, 9, 0, 7])
    assert flagged_moments(e, 4) == [
        {"first": 1, "last": 2, "peak": 2, "surprise": 6.0},
        {"first": 5, "last": 5, "peak": 5, "surprise": 9.0},
        {"first": 7, "last": 7, "peak": 7, "surprise": 7.0},
    ]


@pytest.mark.parametrize("chunk", [1, 3, 50])
@pytest.mark.parametrize("cls", [VideoJEPA, PixelVideoModel])
@pytest.mark.parametrize("predictor", PREDICTORS)
def test_streaming_gives_the_whole_clip_surprise_for_any_chunk_size(chunk, cls, predictor):
    torch.manual_seed(0)
    model = cls(context=3, channels=8, hidden=8, predictor=predictor).eval()
    model.predictor.head.reset_parameters()  # memory must matter to the predictions
    if isinstance(model, PixelVideoModel):
        model.decoder[-1].reset_parameters()
    video = torch.randint(0, 256, (1, 11, 32, 32, 3), dtype=torch.uint8)
    whole = frame_surprise(model, video, "max")[0]
    chunks = (video[0, i : i + chunk].numpy() for i in range(0, 11, chunk))
    streamed = np.concatenate([e for e, _ in stream_surprise(model, chunks, "max")])
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-6)


def test_a_model_blind_to_change_scores_pairs_at_chance():
    """A predictor that always outputs the last frame is surprised only by change, so on
    identical clips pairs tie: accuracy 0 (ties are not wins), AUROC exactly 0.5."""
    model = VideoJEPA(context=2, channels=8, hidden=8).eval()
    pairs = make_pairs(2, seed=0, frames=12)
    pairs.impossible = pairs.possible.copy()
    s = score_pairs(model, pairs)
    assert s["pair_accuracy"] == 0.0 and s["auroc"] == 0.5
    assert set(s["pair_accuracy_by_type"]) == {
        "permanence", "continuity", "solidity", "constancy", "gravity"
    }  # fmt: skip


@pytest.mark.parametrize("cls", [VideoJEPA, PixelVideoModel])
def test_one_pass_gives_each_reduction_as_scored_alone(cls):
    """``frame_surprises`` reduces one pass's error maps each way: the same per-frame
    surprise as a pass per reduction, and the same pair figures."""
    torch.manual_seed(0)
    model = cls(context=2, channels=8, hidden=8).eval()
    model.predictor.head.reset_parameters()
    pairs = make_pairs(1, seed=0, frames=12)
    both = {c: frame_surprises(model, getattr(pairs, c), SPATIAL, batch=3) for c in
            ("possible", "impossible")}  # fmt: skip
    for spatial in SPATIAL:
        for c in ("possible", "impossible"):
            alone = frame_surprise(model, getattr(pairs, c), spatial)
            np.testing.assert_array_equal(both[c][spatial], alone)
        figures = pair_figures(both["impossible"][spatial], both["possible"][spatial], pairs, 2)
        assert figures == score_pairs(model, pairs, spatial)


def test_surprise_command_writes_csv_and_plot(tiny_checkpoint, tmp_path):
    video = np.random.default_rng(0).integers(0, 256, (9, 40, 48, 3), dtype=np.uint8)
    np.save(tmp_path / "clip.npy", video)
    out = tmp_path / "report"
    r = jepalab("surprise", str(tmp_path / "clip.npy"), "--checkpoint",
                str(tiny_checkpoint.checkpoint), "--out", str(out), "--threshold", "0")  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = (out / "surprise.csv").read_text().splitlines()
    assert rows[0] == "frame,surprise,flagged" and len(rows) == 10
    assert [int(x.split(",")[2]) for x in rows[1:3]] == [0, 0]  # the context is never flagged
    assert (out / "surprise.png").stat().st_size > 0
    assert "flagged moment" in r.stdout


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.save(p / "one.npy", np.zeros((1, 8, 8, 3), np.uint8)), "1 frame(s)"),
        (lambda p: (p / "one.npy").write_bytes(b"garbage"), "one.npy"),
        (lambda p: None, "no video at"),
    ],
)
def test_surprise_command_refuses_bad_videos(tiny_checkpoint, tmp_path, make, message):
    make(tmp_path)
    out = tmp_path / "report"
    r = jepalab("surprise", str(tmp_path / "one.npy"), "--checkpoint",
                str(tiny_checkpoint.checkpoint), "--out", str(out))  # fmt: skip
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (out / "surprise.csv").exists()


def test_surprise_command_refuses_a_world_model_checkpoint(tmp_path, tiny_data):
    from jepalab.training import Trainer

    from .conftest import tiny_config

    ckpt = Trainer(tiny_config(tmp_path, "--data.path", str(tiny_data))).fit(progress=False)
    np.save(tmp_path / "clip.npy", np.zeros((6, 32, 32, 3), np.uint8))
    r = jepalab("surprise", str(tmp_path / "clip.npy"), "--checkpoint", str(ckpt.checkpoint))
    assert r.returncode == 2 and "not a 'video_jepa' or 'video_pixel' model" in r.stderr


def test_bench_intuitive_physics_writes_the_issue_keys(tmp_path):
    out = tmp_path / "bench.json"
    r = jepalab("bench", "intuitive-physics", "--out", str(out), "--run-dir",
                str(tmp_path / "run"), *TINY_VIDEO)  # fmt: skip
    assert r.returncode == 0, r.stderr
    f = json.loads(out.read_text())
    keys = {"pair_accuracy", "pair_accuracy_by_type", "auroc", "localization_rate",
            "unseen_style_pair_accuracy", "train_seconds"}  # fmt: skip
    assert keys <= set(f) and keys <= set(f["baseline"])
    assert len(f["pair_accuracy_by_type"]) == 5 and f["pairs"] == 10
    assert (tmp_path / "run" / "surprise_examples.png").exists()
    assert (tmp_path / "run" / "pixel" / "checkpoints" / "last.safetensors").exists()
    # Rescoring the trained run reads its training time from the run's summary.
    again = tmp_path / "again.json"
    r = jepalab("bench", "intuitive-physics", "--out", str(again), "--run-dir",
                str(tmp_path / "rescore"), "--checkpoint", str(tmp_path / "run"),
                "--video.baseline", "false", *TINY_VIDEO)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(again.read_text())["train_seconds"] == f["train_seconds"]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("cls", [VideoJEPA, PixelVideoModel])
@pytest.mark.parametrize("predictor", PREDICTORS)
def test_an_untrained_model_copies_the_last_frame_so_its_relative_error_is_one(
    cls, stride, predictor
):
    torch.manual_seed(0)
    model = cls(context=2, channels=8, hidden=8, stride=stride, predictor=predictor)
    clips = torch.from_numpy(plausible_clips(3, frames=6, seed=0))
    loss, terms, _ = video_loss(model, AntiCollapse(), clips, 64)
    assert loss.item() == pytest.approx(1.0, abs=1e-5) and terms["pred"] == terms["loss"]


def test_with_an_ema_target_surprise_is_measured_against_the_target_encoder(tmp_path):
    result = VideoTrainer(tiny_video_config(tmp_path, "--objective.name", "ema")).fit(
        progress=False
    )
    model, _ = load_video_model(result.checkpoint)
    target = model.target_encoder
    assert target is not None
    for k, v in result.model.target_encoder.state_dict().items():
        assert torch.equal(v, target.state_dict()[k])
    assert any(  # the online encoder trained; the target lags behind it
        not torch.equal(a, b)
        for a, b in zip(model.encoder.parameters(), target.parameters(), strict=True)
    )


def test_a_checkpoint_from_before_the_stride_option_loads_with_coarse_maps(tmp_path):
    """Checkpoints written before ``video.stride`` existed hold stride-2 maps."""
    result = VideoTrainer(tiny_video_config(tmp_path, "--video.stride", "2")).fit(progress=False)
    tensors, meta = read_checkpoint(result.checkpoint, "video_jepa")
    del meta["config"]["video"]["stride"]
    del meta["config"]["video"]["collide"]
    old = tmp_path / "old.safetensors"
    save_checkpoint(old, tensors, {k: v for k, v in meta.items() if k not in ("format", "version")})
    model, meta = load_video_model(old)
    assert model.stride == 2
    assert saved_video_config(meta).video.collide == 0.0  # no clip was drawn for collisions
    assert model.encode(torch.zeros(1, 6, 32, 32, 3, dtype=torch.uint8)).shape[-1] == 16


def test_a_checkpoint_from_before_the_predictor_option_loads_as_a_window(tmp_path):
    """Before ``video.predictor`` existed the window's layers sat under ``predictor.N``;
    such a checkpoint scores as it did, and resuming it is refused by name."""
    cfg = tiny_video_config(tmp_path, "--video.predictor", "window")
    result = VideoTrainer(cfg).fit(progress=False)
    tensors, meta = read_checkpoint(result.checkpoint, "video_jepa")
    del meta["config"]["video"]["predictor"]
    tensors = {k.replace("predictor.net.", "predictor."): v for k, v in tensors.items()}
    header = {k: v for k, v in meta.items() if k not in ("format", "version")}
    save_checkpoint(result.checkpoint, tensors, header)
    model, _ = load_video_model(result.checkpoint)
    clips = torch.from_numpy(plausible_clips(2, frames=6, seed=1))
    np.testing.assert_allclose(
        frame_surprise(model, clips, "max"), frame_surprise(result.model, clips, "max"), rtol=1e-6
    )
    cfg.train.steps += 1
    with pytest.raises(CheckpointError, match=r"predates video\.predictor"):
        VideoTrainer(cfg).fit(resume=True, progress=False)


def test_a_tie_of_peaks_in_the_shared_prefix_is_broken_by_what_follows():
    """Matched clips peak on the same frame before they differ: the mean decides, and a
    tie in both is not a win."""
    possible = np.array([[0.0, 0.0, 9.0, 1.0, 1.0], [0.0, 0.0, 9.0, 1.0, 1.0]])
    impossible = np.array([[0.0, 0.0, 9.0, 1.0, 3.0], [0.0, 0.0, 9.0, 1.0, 1.0]])
    assert more_surprising(impossible, possible, 2, "max").tolist() == [True, False]
    assert more_surprising(possible, impossible, 2, "max").tolist() == [False, False]
    # under the mean, a tie is broken by the peak
    flat, peaked = np.array([[0.0, 2.0, 2.0]]), np.array([[0.0, 3.0, 1.0]])
    assert more_surprising(peaked, flat, 1, "mean").tolist() == [True]

"""The HTML run report and the optional Weights & Biases logging, without training."""

import json
import re
import sys
import types

import numpy as np
import pytest

from jepalab.config import RunConfig, save_config
from jepalab.errors import ConfigError, JepalabError
from jepalab.eval import write_gif, write_report
from jepalab.training import trainer

from .test_cli import jepalab


def fake_run(path, log=True):
    """A run folder as `jepalab demo` leaves it, minus the data and the checkpoint."""
    save_config(RunConfig(out_dir="runs/<b>mine</b>"), path / "config.yaml")
    if log:
        rows = [
            {"step": s, "loss": 1.0 / s, "pred": 0.1 / s, "reg": 0.1, "idm": 0.5, "eff_rank": 4.0}
            | {"std_mean": 0.5, "lr": 1e-3}
            for s in (2, 4, 6)
        ]
        (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluation = {"success_rate": 0.75, "episodes": 4, "ci95": [0.3, 0.95]}
    evaluation |= {"replan_ms_median": 12.5, "gifs": []}
    (path / "eval").mkdir()
    (path / "eval" / "metrics.json").write_text(json.dumps(evaluation))
    val = {"val_pred": 0.002, "eff_rank": 3.5, "probe_rmse": 0.25, "probe_r2": 0.99}
    summary = {**evaluation, "train_seconds": 42.0, "train_steps": 6, "val": val}
    (path / "metrics.json").write_text(json.dumps(summary))
    frames = [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(3)]
    write_gif(frames, path / "eval" / "episode_000.gif")
    return path


def test_report_is_one_self_contained_page(tmp_path):
    run = fake_run(tmp_path)
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    for text in ("success_rate", "0.75", "probe_r2", "training time", "episode_000.gif"):
        assert text in page, text
    assert "data:image/png;base64," in page  # the training curves, re-plotted from the log
    assert "data:image/gif;base64," in page
    # Nothing linked: every src/href is embedded data.
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(link.startswith("data:") for link in links)
    assert "http://" not in page and "https://" not in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine" not in page  # config text escaped


def test_report_notes_missing_parts(tmp_path):
    save_config(RunConfig(), tmp_path / "config.yaml")  # a run that has only begun
    path = write_report(tmp_path, tmp_path / "out" / "r.html")
    page = path.read_text()
    assert path == tmp_path / "out" / "r.html" and "<img" not in page
    assert "not evaluated" in page and "no episode GIFs" in page


def test_report_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(JepalabError, match="run folder not found"):
        write_report(tmp_path / "nope")
    with pytest.raises(JepalabError, match="not a run folder"):
        write_report(tmp_path)


def test_report_names_a_corrupt_log(tmp_path):
    run = fake_run(tmp_path, log=False)
    (run / "metrics.jsonl").write_text('{"step": 2, "loss": 1.0}\n{"step": 4, "lo\n')
    with pytest.raises(JepalabError, match=r"metrics\.jsonl line 2 is not valid JSON"):
        write_report(run)
    assert not (run / "report.html").exists()


def test_report_command(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    fake_run(run, log=False)  # no log: the command needs no plotting to show its exit codes
    r = jepalab("report", str(run))
    assert r.returncode == 0, r.stderr
    assert (run / "report.html").exists() and "report written" in r.stdout
    r = jepalab("report", str(tmp_path / "missing"))
    assert r.returncode == 2
    missing = tmp_path / "missing"
    assert r.stderr.strip().splitlines() == [f"jepalab: error: run folder not found: {missing}"]


class FakeWriter:
    """Stands in for TensorBoard's SummaryWriter."""

    def __init__(self, path):
        self.scalars, self.closed = [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def close(self):
        self.closed = True


def test_wandb_gets_what_tensorboard_gets(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, data, step):
            calls.append(("log", data, step))

        def finish(self):
            calls.append(("finish",))

    def init(**kwargs):
        calls.append(("init", kwargs))
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.setattr(trainer, "_summary_writer", FakeWriter)
    cfg = RunConfig(out_dir=str(tmp_path / "mine"))
    cfg.train.wandb_project = "jepa"
    trackers = trainer.Trackers(cfg, tmp_path / "mine")
    trackers.log("train", {"loss": 0.5, "eff_rank": 3.0}, 25)
    trackers.log("val", {"val_pred": 0.01}, 50)
    trackers.close()

    (_, kwargs), *rest = calls
    assert kwargs == {
        "project": "jepa",
        "dir": str(tmp_path / "mine"),
        "config": cfg.to_dict(),
        "name": "mine",
    }
    assert rest == [
        ("log", {"train/loss": 0.5, "train/eff_rank": 3.0}, 25),
        ("log", {"val/val_pred": 0.01}, 50),
        ("finish",),
    ]
    tb = trackers.tb
    assert tb.closed and tb.scalars == [
        ("train/loss", 0.5, 25),
        ("train/eff_rank", 3.0, 25),
        ("val/val_pred", 0.01, 50),
    ]


def test_wandb_off_by_default_and_missing_wandb_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` fail
    monkeypatch.setattr(trainer, "_summary_writer", FakeWriter)
    cfg = RunConfig()
    assert trainer.Trackers(cfg, tmp_path).wandb is None  # off: wandb never imported
    cfg.train.wandb_project = "jepa"
    with pytest.raises(ConfigError, match=r"pip install wandb"):
        trainer.Trackers(cfg, tmp_path)

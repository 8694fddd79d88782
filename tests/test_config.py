"""Typed config: YAML, dotted overrides, clear errors for keys that do not exist."""

import pytest

from jepalab.config import (
    RunConfig,
    apply_overrides,
    load_config,
    parse_overrides,
    save_config,
)
from jepalab.errors import ConfigError


def test_dotted_overrides_are_typed():
    cfg = apply_overrides(
        RunConfig(),
        parse_overrides(
            [
                "--train.lr",
                "3e-4",
                "--data.episodes=12",
                "--data.in_memory",
                "false",
                "--model.channels",
                "8,16",
                "--planner.name",
                "mppi",
            ]
        ),
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.data.episodes == 12 and isinstance(cfg.data.episodes, int)
    assert cfg.data.in_memory is False
    assert cfg.model.channels == (8, 16)
    assert cfg.planner.name == "mppi"


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr'.*train.lr"):
        apply_overrides(RunConfig(), parse_overrides(["--train.lrr", "1"]))
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        apply_overrides(RunConfig(), parse_overrides(["--nope", "1"]))


def test_bad_value_names_key_and_type():
    with pytest.raises(ConfigError, match=r"train\.steps.*int"):
        apply_overrides(RunConfig(), parse_overrides(["--train.steps", "many"]))
    with pytest.raises(ConfigError, match="needs a value"):
        parse_overrides(["--train.steps"])


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(
        RunConfig(), parse_overrides(["--train.steps", "7", "--model.channels", "4,4"])
    )
    save_config(cfg, tmp_path / "config.yaml")
    loaded = load_config(tmp_path / "config.yaml")
    assert loaded == cfg


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {steps: [}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("train:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"train\.stepz"):
        load_config(unknown)

"""One self-contained HTML page per run folder (``jepalab report RUN_DIR``).

The page gathers what a run leaves behind (``config.yaml``, ``metrics.jsonl``,
``metrics.json``, ``eval/``) into a summary, the config, the training curves, the
validation and planning figures and the episode GIFs. Images are embedded as base64 data
URIs and nothing is linked, so the one file can be mailed, attached to an issue or
archived without the run folder. Parts a run does not have (a train-only run has no
evaluation) are left out with a note.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..errors import JepalabError
from ..io import atomic_write_text, read_json_object
from .plots import CURVES, plot_training_curves

MAX_GIFS = 16  # the page stays a few MB even when eval.gifs is large
# The evaluation figures (EvalResult) that demo/bench also copy into metrics.json.
PLANNING = (
    "success_rate",
    "ci95",
    "episodes",
    "successes",
    "mean_final_distance",
    "mean_steps_success",
    "replan_ms_median",
    "replan_ms_p95",
    "eval_seconds",
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 2px 12px 2px 0; text-align: left; }
th { font-weight: normal; color: #555; } pre { background: #f6f6f6; padding: 1em; }
img { max-width: 100%; } figure { display: inline-block; margin: 0 1em 1em 0; }
.note { color: #777; font-style: italic; }
"""


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``).

    Raises :class:`JepalabError` when ``run_dir`` is not a run folder or one of its
    files does not parse. Returns the path written."""
    run = Path(run_dir)
    if not run.is_dir():
        raise JepalabError(f"run folder not found: {run}")
    config_path, log_path, summary_path = (
        run / "config.yaml",
        run / "metrics.jsonl",
        run / "metrics.json",
    )
    if not any(p.is_file() for p in (config_path, log_path, summary_path)):
        raise JepalabError(
            f"{run} is not a run folder: it has no config.yaml, metrics.jsonl or metrics.json"
        )
    config = _read_yaml(config_path)
    rows = _read_jsonl(log_path)
    summary = _read_json(summary_path) or {}
    # `evaluate` writes eval/metrics.json; `demo`/`bench` also copy those figures into
    # metrics.json, the only place left if eval/ was moved away.
    planning = _read_json(run / "eval" / "metrics.json")
    if planning is None and "success_rate" in summary:
        planning = {k: summary[k] for k in PLANNING if k in summary}

    body = [
        f"<h1>jepalab run: {_esc(run.resolve().name)}</h1>",
        _section("Summary", _table(_headline(run, config, rows, summary, planning))),
        _section(
            "Config",
            f"<pre>{_esc(config_path.read_text())}</pre>"
            if config is not None
            else _note("no config.yaml"),
        ),
        _section("Training curves", _curves(run, log_path, rows)),
        _section(
            "Validation",
            _table(summary["val"])
            if isinstance(summary.get("val"), dict)
            else _note(
                "no validation figures: metrics.json is written by demo and bench runs "
                "(train prints them and logs them to TensorBoard as val/...)"
            ),
        ),
        _section(
            "Planning",
            _table({k: v for k, v in planning.items() if k != "gifs"})
            if planning is not None
            else _note("not evaluated: no eval/metrics.json"),
        ),
        _section("Episodes", _gifs(run)),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>jepalab run: {_esc(run.resolve().name)}</title><style>{STYLE}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    path = Path(out) if out is not None else run / "report.html"
    # Character references keep the page ASCII: right whatever the locale's file encoding.
    atomic_write_text(path, page.encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return path


# ---------------------------------------------------------------- reading the run folder
def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise JepalabError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise JepalabError(f"{path} does not hold a config (a mapping of sections)")
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    return read_json_object(path) if path.is_file() else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The training log, one object with a ``step`` per line; checked here so that a bad
    line is reported by file and line rather than failing inside the plotting."""
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise JepalabError(f"{path} line {i} is not valid JSON: {e.msg}") from None
        if not isinstance(row, dict) or "step" not in row:
            raise JepalabError(f"{path} line {i} is not a training log entry (no 'step')")
        rows.append(row)
    return rows


# ---------------------------------------------------------------- sections
def _headline(
    run: Path,
    config: dict[str, Any] | None,
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    planning: dict[str, Any] | None,
) -> dict[str, Any]:
    """The figures a reader looks for first; each only where the run has it."""
    cfg = config or {}
    head: dict[str, Any] = {"run folder": str(run.resolve())}
    for label, section, key in (
        ("environment", "env", "name"),
        ("encoder", "model", "encoder"),
        ("objective", "objective", "name"),
        ("planner", "planner", "name"),
    ):
        if isinstance(cfg.get(section), dict) and key in cfg[section]:
            head[label] = cfg[section][key]
    if rows:
        last = rows[-1]
        head["training steps"] = summary.get("train_steps", last["step"])
        for key in ("loss", "eff_rank"):
            if key in last:
                head[f"final {key}"] = last[key]
    if "train_seconds" in summary:
        head["training time (s)"] = summary["train_seconds"]
    if planning is not None:
        for key in ("success_rate", "ci95", "episodes", "replan_ms_median"):
            if key in planning:
                head[key] = planning[key]
    machine = summary.get("machine")
    if isinstance(machine, dict):
        head["machine"] = ", ".join(f"{k} {v}" for k, v in machine.items())
    ckpt = run / "checkpoints" / "last.safetensors"
    if ckpt.is_file():
        head["checkpoint"] = f"{ckpt} ({ckpt.stat().st_size / 1e6:.1f} MB)"
    return head


def _curves(run: Path, log_path: Path, rows: list[dict[str, Any]]) -> str:
    """Re-plot from the log (the source of truth, also mid-run or after an interrupted
    run); the saved train_curves.png stands in when the log is gone."""
    if rows and any(k in rows[0] for k, _ in CURVES):
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_training_curves(log_path, Path(tmp) / "curves.png")
            if png is not None:
                return _img(png, "training curves")
    saved = run / "train_curves.png"
    if saved.is_file():
        return _img(saved, "training curves")
    return _note("no training log (metrics.jsonl) or train_curves.png")


def _gifs(run: Path) -> str:
    gifs = sorted((run / "eval").glob("episode_*.gif"))
    if not gifs:
        return _note("no episode GIFs in eval/")
    figures = [
        f"<figure>{_img(g, g.name)}<figcaption>{_esc(g.name)}</figcaption></figure>"
        for g in gifs[:MAX_GIFS]
    ]
    caption = "Each frame: the agent's observation | the goal image."
    if len(gifs) > MAX_GIFS:
        caption += f" The first {MAX_GIFS} of {len(gifs)}."
    return f"<p>{_esc(caption)}</p>" + "".join(figures)


# ---------------------------------------------------------------- HTML pieces
def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"  # e.g. a confidence interval
    return str(value)


def _table(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in items.items())
    return f"<table>{rows}</table>"


def _section(title: str, content: str) -> str:
    return f"<section><h2>{_esc(title)}</h2>\n{content}\n</section>"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _img(path: Path, alt: str) -> str:
    mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:{mime};base64,{data}" alt="{_esc(alt)}">'

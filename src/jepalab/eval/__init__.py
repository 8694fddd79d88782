"""Evaluation: planning success, latency, probes, plots, GIFs and HTML run reports."""

from .evaluate import EvalResult, evaluate, run_episodes
from .plots import plot_training_curves, write_gif
from .probe import linear_probe
from .report import write_report
from .stats import percentiles, wilson_interval

__all__ = [
    "EvalResult",
    "evaluate",
    "linear_probe",
    "percentiles",
    "plot_training_curves",
    "run_episodes",
    "wilson_interval",
    "write_gif",
    "write_report",
]

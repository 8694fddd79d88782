"""World model: the action-conditioned JEPA, its objectives and its collapse monitor."""

from .inverse_dynamics import InverseDynamics
from .jepa import WorldModel
from .monitor import collapse_stats
from .predictor import PREDICTORS, make_predictor
from .time_contrast import TimeContrast

__all__ = [
    "PREDICTORS",
    "InverseDynamics",
    "TimeContrast",
    "WorldModel",
    "collapse_stats",
    "make_predictor",
]

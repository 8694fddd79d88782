"""World model: the action-conditioned JEPA, its objectives and its collapse monitor."""

from .inverse_dynamics import InverseDynamics
from .jepa import WorldModel
from .monitor import collapse_stats
from .pixel_neighbours import PixelNeighbours
from .predictor import PREDICTORS, make_predictor
from .time_contrast import TimeContrast

__all__ = [
    "PREDICTORS",
    "InverseDynamics",
    "PixelNeighbours",
    "TimeContrast",
    "WorldModel",
    "collapse_stats",
    "make_predictor",
]

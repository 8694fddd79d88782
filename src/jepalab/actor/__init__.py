"""The Actor (Mode-2): plan action sequences through the world model by minimising an energy.

Importing this package registers every planner with :func:`make_planner`.
"""

from .bounds import ActionBounds
from .cem import CEMPlanner
from .gradient import GradientPlanner
from .mpc import MPC
from .mppi import MPPIPlanner
from .planner import PLANNERS, EnergyFn, Planner, PlannerConfig, PlanResult, make_planner

__all__ = [
    "MPC",
    "PLANNERS",
    "ActionBounds",
    "CEMPlanner",
    "EnergyFn",
    "GradientPlanner",
    "MPPIPlanner",
    "PlanResult",
    "Planner",
    "PlannerConfig",
    "make_planner",
]

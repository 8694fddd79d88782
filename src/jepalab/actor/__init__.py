"""The Actor. Mode-2: plan action sequences through the world model by minimising an energy.
Mode-1: a policy distilled from Mode-2's choices, one forward pass per decision.

Importing this package registers every planner with :func:`make_planner`.
"""

from .bounds import ActionBounds
from .cem import CEMPlanner
from .gradient import GradientPlanner
from .mpc import MPC
from .mppi import MPPIPlanner
from .planner import (
    PLANNERS,
    EnergyFn,
    Planner,
    PlannerConfig,
    PlanResult,
    UncertaintyFn,
    make_planner,
)
from .policy import Mode1Policy, distill, load_policy, save_policy

__all__ = [
    "MPC",
    "PLANNERS",
    "ActionBounds",
    "CEMPlanner",
    "EnergyFn",
    "GradientPlanner",
    "MPPIPlanner",
    "Mode1Policy",
    "PlanResult",
    "Planner",
    "PlannerConfig",
    "UncertaintyFn",
    "distill",
    "load_policy",
    "make_planner",
    "save_policy",
]

"""The Cost module: the hard-wired intrinsic cost (goal, time, hazards) and the trainable critic."""

from .critic import Critic, load_critic, save_critic, train_critic
from .hazard import (
    GOAL_IN_HAZARD,
    HazardProbe,
    load_hazard_probe,
    save_hazard_probe,
    train_hazard_probe,
)
from .intrinsic import STEP_COST, GoalEnergy, goal_cost

__all__ = [
    "GOAL_IN_HAZARD",
    "STEP_COST",
    "Critic",
    "GoalEnergy",
    "HazardProbe",
    "goal_cost",
    "load_critic",
    "load_hazard_probe",
    "save_critic",
    "save_hazard_probe",
    "train_critic",
    "train_hazard_probe",
]

"""The Cost module: the hard-wired intrinsic cost and the trainable critic."""

from .critic import Critic, load_critic, save_critic, train_critic
from .intrinsic import GoalEnergy, goal_cost

__all__ = [
    "Critic",
    "GoalEnergy",
    "goal_cost",
    "load_critic",
    "save_critic",
    "train_critic",
]

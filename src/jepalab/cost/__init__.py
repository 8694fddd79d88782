"""Costs the Actor minimises over the world model's imagined futures."""

from .intrinsic import GoalEnergy

__all__ = ["GoalEnergy"]

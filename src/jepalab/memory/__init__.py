"""Memory: short-term (recent episodes' states, actions and costs, for the critic and
replay) and episodic (the places of a dataset as a graph of ways between them)."""

from .episodic import EpisodicMemory
from .short_term import ShortTermMemory, Transitions

__all__ = ["EpisodicMemory", "ShortTermMemory", "Transitions"]

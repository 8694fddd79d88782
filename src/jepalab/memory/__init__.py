"""Short-term memory: recent episodes' states, actions and costs, for the critic and replay."""

from .short_term import ShortTermMemory, Transitions

__all__ = ["ShortTermMemory", "Transitions"]

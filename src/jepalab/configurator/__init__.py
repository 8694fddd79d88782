"""The Configurator: configures the agent for a task and decomposes far goals into subgoals
planned by the high level of a hierarchical JEPA."""

from .configurator import Configurator, Task
from .hierarchical_agent import GAVE_UP, UNREACHABLE, HierarchicalAgent
from .subgoals import Route, SubgoalSearch, macro_actions

__all__ = [
    "GAVE_UP",
    "UNREACHABLE",
    "Configurator",
    "HierarchicalAgent",
    "Route",
    "SubgoalSearch",
    "Task",
    "macro_actions",
]

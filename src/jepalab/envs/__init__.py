"""Environments by name, and their Gymnasium registration.

``make_env("two-rooms")`` (or ``"maze"``) builds a world directly;
``gymnasium.make("jepalab/TwoRooms-v0")`` (``"jepalab/Maze-v0"``) does the same through
Gymnasium (the env handles truncation itself, so no TimeLimit).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from jepalab.envs.maze import MazeEnv
from jepalab.envs.two_rooms import TwoRoomsEnv
from jepalab.errors import JepalabError

__all__ = ["ENVS", "MazeEnv", "TwoRoomsEnv", "make_env"]

ENVS: dict[str, type[gym.Env]] = {"two-rooms": TwoRoomsEnv, "maze": MazeEnv}

_GYM_IDS = {
    "jepalab/TwoRooms-v0": "jepalab.envs.two_rooms:TwoRoomsEnv",
    "jepalab/Maze-v0": "jepalab.envs.maze:MazeEnv",
}


def make_env(name: str, **kwargs: Any) -> gym.Env:
    """Build the environment registered as ``name`` with constructor ``kwargs``."""
    if name not in ENVS:
        raise JepalabError(f"unknown environment {name!r}; known: {', '.join(sorted(ENVS))}")
    return ENVS[name](**kwargs)


for _gym_id, _entry_point in _GYM_IDS.items():
    # Re-importing this module (e.g. reloading) must not register twice.
    if _gym_id not in gym.registry:
        gym.register(id=_gym_id, entry_point=_entry_point)

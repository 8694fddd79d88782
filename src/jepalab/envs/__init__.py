"""Environments by name, and their Gymnasium registration.

``make_env("two-rooms")`` (or ``"maze"``, ``"hazard-rooms"``, the MuJoCo worlds
``"reacher"`` and ``"point-maze"``, or a shifted Two-Rooms:
``"two-rooms-two-doors"``, ``"two-rooms-thick-border"``, ``"two-rooms-inverted"``) builds a
world directly; ``gymnasium.make("jepalab/TwoRooms-v0")`` (``"jepalab/Maze-v0"``,
``"jepalab/HazardRooms-v0"``) does the same through
Gymnasium (the env handles truncation itself, so no TimeLimit). ``make_env`` also builds any
registered Gymnasium id (``"Pendulum-v1"``) and any ``"package.module:ClassName"``, both
rendering ``rgb_array`` frames so ``jepalab collect`` can record them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from jepalab.envs.hazard_rooms import HazardRoomsEnv
from jepalab.envs.maze import MazeEnv
from jepalab.envs.point_maze import PointMazeTask
from jepalab.envs.reacher import ReacherTask
from jepalab.envs.shifted_rooms import SHIFTS, ShiftedTwoRoomsEnv
from jepalab.envs.two_rooms import TwoRoomsEnv
from jepalab.errors import JepalabError

if TYPE_CHECKING:
    from jepalab.config import EnvConfig

__all__ = [
    "ENVS",
    "HazardRoomsEnv",
    "MazeEnv",
    "PointMazeTask",
    "ReacherTask",
    "ShiftedTwoRoomsEnv",
    "TwoRoomsEnv",
    "config_kwargs",
    "env_from_config",
    "load_object",
    "make_env",
]

ENVS: dict[str, Callable[..., gym.Env]] = {
    "two-rooms": TwoRoomsEnv,
    "maze": MazeEnv,
    "hazard-rooms": HazardRoomsEnv,
    "reacher": ReacherTask,  # Gymnasium's MuJoCo Reacher-v5 from pixels (jepalab[mujoco])
    "point-maze": PointMazeTask,  # Gymnasium-Robotics' PointMaze from pixels (jepalab[mujoco])
    # Two-Rooms as the agent never saw it (envs/shifted_rooms.py), for testing abstention
    **{f"two-rooms-{shift}": partial(ShiftedTwoRoomsEnv, shift) for shift in SHIFTS},
}

_GYM_IDS = {
    "jepalab/TwoRooms-v0": "jepalab.envs.two_rooms:TwoRoomsEnv",
    "jepalab/Maze-v0": "jepalab.envs.maze:MazeEnv",
    "jepalab/HazardRooms-v0": "jepalab.envs.hazard_rooms:HazardRoomsEnv",
}


def make_env(name: str, **kwargs: Any) -> gym.Env:
    """Build the environment ``name`` with constructor ``kwargs``.

    ``name`` is a built-in world (``two-rooms``, ``maze``), a registered Gymnasium id (made
    with ``render_mode="rgb_array"``) or ``package.module:ClassName`` (given
    ``render_mode="rgb_array"`` too when its ``metadata["render_modes"]`` lists it).
    """
    if name in ENVS:
        return ENVS[name](**kwargs)
    module, _, attr = name.rpartition(":")
    # "module:Class" is ours; Gymnasium's own "module:Env-v0" (not an identifier) is not.
    if module and attr.isidentifier():
        cls = load_object(name, "environment")
        metadata = getattr(cls, "metadata", None)
        if isinstance(metadata, dict) and "rgb_array" in metadata.get("render_modes", ()):
            kwargs = {"render_mode": "rgb_array", **kwargs}
        return cls(**kwargs)
    if module:  # "module:Env-v0": importing the module registers the id
        _import(module, "environment", name)
    try:
        gym.spec(attr)
    except gym.error.Error as err:
        raise JepalabError(
            f"unknown environment {name!r} ({err}); built-in: {', '.join(sorted(ENVS))}. "
            "Pass a registered Gymnasium id (e.g. Pendulum-v1, or 'my_pkg:MyEnv-v0' to import "
            "my_pkg, which registers it) or a class as 'package.module:ClassName'"
        ) from None
    return gym.make(name, **{"render_mode": "rgb_array", **kwargs})


def config_kwargs(cfg: EnvConfig) -> dict[str, Any]:
    """Constructor keyword arguments for ``make_env(cfg.name)`` from the config:
    ``action_noise`` belongs to the built-in worlds, other environments get none."""
    return {"action_noise": cfg.action_noise} if cfg.name in ENVS else {}


def env_from_config(cfg: EnvConfig) -> gym.Env:
    """The environment ``cfg`` describes."""
    return make_env(cfg.name, **config_kwargs(cfg))


def load_object(spec: str, what: str) -> Any:
    """Import ``"package.module:name"`` and return ``name``; ``what`` names it in errors."""
    module, _, attr = spec.rpartition(":")
    if not module or not attr.isidentifier():
        raise JepalabError(f"{what} {spec!r} is not of the form 'package.module:name'")
    obj = getattr(_import(module, what, spec), attr, None)
    if obj is None:
        raise JepalabError(f"module {module!r} has no {attr!r} (the {what} {spec!r})")
    if not callable(obj):
        raise JepalabError(f"{what} {spec!r} is not callable")
    return obj


def _import(module: str, what: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise JepalabError(f"cannot import module {module!r} for {what} {spec!r}: {err}") from None


for _gym_id, _entry_point in _GYM_IDS.items():
    # Re-importing this module (e.g. reloading) must not register twice.
    if _gym_id not in gym.registry:
        gym.register(id=_gym_id, entry_point=_entry_point)

"""Routes: lead Mode-2 to the goal along a way the agent's episodic memory knows.

A receding-horizon planner descends the goal cost a short horizon at a time, and where
the cost has a false basin between the arm and the goal (on the MuJoCo Reacher: a folded
goal's mirror images, which the encoder draws near the goal) it settles there. A route
over the :class:`~jepalab.memory.EpisodicMemory` goes the way the world went in the data
instead: the Configurator finds the goal's node when the goal is set and, every decision,
the node of what the agent sees; Mode-2 aims at the node ``look`` steps further along the
shortest way from there to the goal's node, and at the goal itself once less than that
is left (or where the memory knows no way).

Shapes: ``E`` environments, ``D`` embedding size, ``H, W, C`` an observation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AgentConfig
from ..errors import ConfigError, JepalabError
from ..memory import EpisodicMemory
from ..world_model import WorldModel


def check_route_config(a: AgentConfig) -> None:
    if a.route_every < 0:
        raise ConfigError(f"agent.route_every must be 0 (off) or more, got {a.route_every}")
    for name in ("route_look", "route_embed_radius", "route_picture_radius", "route_blur"):
        if not getattr(a, name) > 0:
            raise ConfigError(f"agent.{name} must be positive, got {getattr(a, name)}")
    if a.route_neighbours < 0:
        raise ConfigError(f"agent.route_neighbours must be 0 or more, got {a.route_neighbours}")


class Routes:
    """Per environment: the immediate goal along the memory's shortest way to the goal.

    Args:
        memory: the episodic memory to route over.
        look: steps along the route between the agent's node and the node it aims at
            (about the planner's horizon: far enough to lead, near enough to reach).
    """

    def __init__(self, memory: EpisodicMemory, look: float = 8.0) -> None:
        if memory.picture is None:
            raise JepalabError("routes need a memory that can make pictures of observations")
        if not look > 0:
            raise ConfigError(f"the route's look-ahead must be positive, got {look}")
        self.memory, self.look = memory, float(look)
        self.z_goal = torch.zeros(0, memory.z.shape[1])
        self._length: list[np.ndarray] = []  # per environment: (M,) steps to its goal's node
        self._toward: list[np.ndarray] = []  # per environment: (M,) next node on the way
        self.guided = np.zeros(0, dtype=np.int64)  # decisions aimed at a node, per environment

    @classmethod
    def from_dataset(
        cls,
        model: WorldModel,
        path: str | Path,
        config: AgentConfig,
        frames: int = 1,
        seed: int = 0,
        progress: bool = True,
    ) -> Routes:
        """Routes over the episodic memory of the dataset at ``path`` (observations of
        ``frames`` stacked pictures), as ``config.route_*`` says."""
        check_route_config(config)
        memory = EpisodicMemory.from_dataset(
            model, path, config.route_every, config.route_neighbours, config.route_embed_radius,
            config.route_picture_radius, config.route_blur, frames, seed, progress,
        )  # fmt: skip
        return cls(memory, config.route_look)

    def reset(self, z_goal: torch.Tensor, goal_images: torch.Tensor) -> None:
        """New tasks with ``(E, D)`` goal embeddings of ``(E, H, W, C)`` goal images."""
        nodes = self.memory.locate(z_goal, self.memory.picture(goal_images))
        ways = [self.memory.routes_to(int(n)) for n in nodes]
        self._length = [length for length, _ in ways]
        self._toward = [toward for _, toward in ways]
        self.z_goal = z_goal
        self.guided = np.zeros(len(z_goal), dtype=np.int64)

    def keep(self, mask: torch.Tensor) -> None:
        """Continue with only the environments where the ``(E,)`` bool ``mask`` is true."""
        keep = mask.numpy()
        self._length = [x for x, k in zip(self._length, keep, strict=True) if k]
        self._toward = [x for x, k in zip(self._toward, keep, strict=True) if k]
        self.z_goal, self.guided = self.z_goal[mask], self.guided[keep]

    def goals(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``(E, D)`` embeddings of ``(E, H, W, C)`` observations -> ``(E, D)`` aims."""
        here = self.memory.locate(z, self.memory.picture(images))
        aim = self.z_goal.clone()
        for e, node in enumerate(here):
            length, toward = self._length[e], self._toward[e]
            if not np.isfinite(length[node]) or length[node] <= self.look:  # aim at the goal
                continue
            # along a shortest way, the length left falls by each edge walked
            left = length[node] - self.look
            while length[node] > left:
                node = int(toward[node])
            aim[e] = self.memory.z[node]
            self.guided[e] += 1
        return aim

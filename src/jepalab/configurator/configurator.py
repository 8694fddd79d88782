"""The Configurator: turns a task into a configured agent and a route of subgoals.

The position paper leaves the Configurator open; here it does two jobs.

* **Configure each level.** The low level is the ordinary :class:`~jepalab.agent.Agent`,
  but it only ever needs to reach the next subgoal, about one high-level step away, so its
  planner gets a short horizon (``hierarchy.low_horizon``) and the goal-cost weights of
  the run. The high level gets its search settings (``hierarchy.depth``, ``merge``,
  ``reach``).
* **Decompose the goal.** :meth:`Configurator.route` asks the high-level world model for a
  route of subgoal embeddings (:class:`~.subgoals.SubgoalSearch`).

:class:`~.hierarchical_agent.HierarchicalAgent` runs the loop: it hands the low level one
subgoal at a time and asks the Configurator again when progress stalls.

Shapes: ``D`` embedding size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..actor import ActionBounds
from ..agent import Agent
from ..config import RunConfig
from ..cost import Critic, HazardProbe
from ..errors import ConfigError, JepalabError
from ..world_model import WorldModel
from ..world_model.high_level import HighLevelModel
from .subgoals import Route, SubgoalSearch


@dataclass
class Task:
    """What the agent is asked to do: reach the situation in ``goal_obs`` from ``start_obs``
    (uint8 images ``(H, W, C)``)."""

    start_obs: np.ndarray
    goal_obs: np.ndarray


class Configurator:
    """Task in, configured low-level agent and subgoals out.

    Args:
        model: the low-level world model.
        high: the high-level world model trained on top of it.
        cfg: the run config; ``cfg.hierarchy`` sets both levels.
        bounds: the environment's action bounds.
        critic: optional critic for the low level's terminal cost.
        hazard: optional hazard probe: the low level's plans keep out of forbidden regions
            (the high level's route knows nothing of them; the low level steers around
            them on the way, and a subgoal it cannot reach makes the agent search again).
    """

    def __init__(
        self,
        model: WorldModel,
        high: HighLevelModel,
        cfg: RunConfig,
        bounds: ActionBounds,
        critic: Critic | None = None,
        hazard: HazardProbe | None = None,
    ) -> None:
        h = cfg.hierarchy
        if h.low_horizon < 1 or h.lookahead < 1 or h.stall < 1:
            raise ConfigError(
                "hierarchy.low_horizon, lookahead and stall must be at least 1, got "
                f"{h.low_horizon}, {h.lookahead}, {h.stall}"
            )
        if high.embed_dim != model.embed_dim:
            raise JepalabError(
                f"the high level predicts {high.embed_dim}-d embeddings but the world model's "
                f"are {model.embed_dim}-d"
            )
        self.model, self.high, self.cfg, self.bounds = model, high, cfg, bounds
        self.critic, self.hazard = critic, hazard
        self.search = SubgoalSearch(
            high, bounds, depth=h.depth, merge=h.merge, reach=h.reach, max_states=h.max_states
        )

    def low_config(self) -> RunConfig:
        """The run config of the low level: the planner's horizon cut to one subgoal's reach."""
        cfg = copy.deepcopy(self.cfg)
        cfg.planner.horizon = self.cfg.hierarchy.low_horizon
        cfg.planner.action_repeat = min(cfg.planner.action_repeat, cfg.planner.horizon)
        return cfg

    def low_agent(self) -> Agent:
        """A fresh low-level agent configured for following subgoals."""
        return Agent(self.model, self.low_config(), self.bounds, self.critic, hazard=self.hazard)

    @torch.no_grad()
    def route(
        self,
        z: torch.Tensor,
        z_goal: torch.Tensor,
        scene: torch.Tensor | None,
        blocked: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Route:
        """Subgoals from the ``(D,)`` state ``z`` to ``(D,)`` ``z_goal`` in the ``(1, ...)``
        scene map of the current observation, avoiding ``blocked`` steps (see
        :meth:`SubgoalSearch.__call__`)."""
        return self.search(z, z_goal, scene, blocked)

    @torch.no_grad()
    def configure(self, task: Task) -> tuple[Agent, Route]:
        """A low-level agent configured for ``task`` (its goal not yet set: the caller hands
        it the subgoals) and the route of subgoals from start to goal."""
        obs = torch.from_numpy(np.stack([task.start_obs, task.goal_obs]))
        if tuple(obs.shape[1:]) != self.model.obs_shape or obs.dtype != torch.uint8:
            raise JepalabError(
                f"task images have shape {tuple(obs.shape[1:])} and dtype {obs.dtype}; the "
                f"model expects uint8 images of shape {self.model.obs_shape}"
            )
        z = self.model.encode(obs)
        return self.low_agent(), self.route(z[0], z[1], self.model.scene_map(obs[:1]))

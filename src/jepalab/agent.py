"""The agent's perception-action loop: observe, encode, plan through the world model, act.

``Agent`` ties Perception (the encoder), the World model (the predictor), the Cost (energy
to the goal embedding) and the Actor (Mode-2: receding-horizon planning). It works on one
environment or a batch of them; the goal is encoded once, when it is set. A world model
whose step spans ``model.frame_skip`` environment steps plans once per model step and the
agent holds each planned action for that many environment steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .actor import MPC, ActionBounds, make_planner
from .config import RunConfig
from .cost import GoalEnergy
from .errors import JepalabError
from .world_model import WorldModel


class Agent:
    """A goal-conditioned agent that plans in latent space (the paper's Mode-2)."""

    def __init__(self, model: WorldModel, cfg: RunConfig, bounds: ActionBounds) -> None:
        self.model, self.cfg = model.eval(), cfg
        energy = GoalEnergy(cfg.cost.terminal_weight, cfg.cost.running_weight)
        self.mpc = MPC(make_planner(self.model, energy, bounds, cfg.planner))
        self.z_goal: torch.Tensor | None = None
        self.frame_skip = cfg.model.frame_skip
        self._held: np.ndarray | None = None  # (E, A) the action of the current model step
        self._held_for = 0  # environment steps it has been returned for

    @classmethod
    def for_env(cls, model: WorldModel, cfg: RunConfig, env) -> Agent:
        """An agent whose actions respect ``env``'s action space (and norm limit, if any)."""
        max_norm = getattr(env, "max_action_norm", None)
        return cls(model, cfg, ActionBounds.from_space(env.action_space, max_norm=max_norm))

    @classmethod
    def from_checkpoint(cls, path: str | Path, env) -> Agent:
        from .training import load_world_model

        model, cfg = load_world_model(path)
        return cls.for_env(model, cfg, env)

    def _obs(self, obs: np.ndarray) -> torch.Tensor:
        obs = np.asarray(obs)
        if obs.shape[-3:] != self.model.obs_shape or obs.dtype != np.uint8:
            raise JepalabError(
                f"observation has shape {obs.shape} and dtype {obs.dtype}; the model expects "
                f"uint8 images of shape {self.model.obs_shape} (H, W, C)"
            )
        return torch.from_numpy(obs.reshape(-1, *obs.shape[-3:]))

    @torch.no_grad()
    def set_goal(self, goal_obs: np.ndarray) -> None:
        """Encode the goal image(s) ``(H, W, C)`` or ``(E, H, W, C)`` and reset the plans."""
        self.z_goal = self.model.encode(self._obs(goal_obs))
        self.mpc.reset(self.z_goal.shape[0])
        self._held = None

    def keep(self, mask: np.ndarray) -> None:
        """Drop the environments where the ``(E,)`` bool ``mask`` is false (finished episodes)."""
        if self.z_goal is None:
            raise JepalabError("the agent has no goal: call set_goal(goal_obs) first")
        m = torch.as_tensor(np.asarray(mask, bool))
        self.mpc.keep(m)
        self.z_goal = self.z_goal[m]
        if self._held is not None:
            self._held = self._held[m.numpy()]

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Observation(s) -> action(s): ``(H, W, C) -> (A,)`` or ``(E, H, W, C) -> (E, A)``."""
        if self.z_goal is None:
            raise JepalabError("the agent has no goal: call set_goal(goal_obs) first")
        images = self._obs(obs)
        if images.shape[0] != self.z_goal.shape[0]:
            raise JepalabError(
                f"got {images.shape[0]} observations for {self.z_goal.shape[0]} goals"
            )
        if self._held is None or self._held_for >= self.frame_skip:
            z = self.model.encode(images)
            scene = self.model.scene_map(images)
            self._held, self._held_for = self.mpc.act(z, self.z_goal, scene=scene).numpy(), 0
        self._held_for += 1
        return self._held[0].copy() if np.asarray(obs).ndim == 3 else self._held.copy()

    @property
    def latencies_ms(self) -> list[float]:
        return self.mpc.latencies_ms

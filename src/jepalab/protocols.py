"""The seams between the paper's modules, as typed protocols.

Shapes: ``B`` batch, ``T`` time, ``H`` planning horizon, ``D`` embedding size,
``A`` action size, and images are ``(..., H_img, W_img, C)`` uint8 in environments and
``(..., C, H_img, W_img)`` float in models.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class RolloutModel(Protocol):
    """Something that predicts future embeddings from an embedding and actions (World model).

    A model that also reads the static scene (the default world model's glimpse) takes a
    ``scene=`` keyword as well; planners pass it only when they were given one.
    """

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Predict embeddings after each action.

        Args:
            z0: ``(N, D)`` start embeddings.
            actions: ``(N, H, A)`` action sequences.

        Returns:
            ``(N, H, D)``: the predicted embedding after actions ``0..h``.
        """
        ...


@runtime_checkable
class GoalTask(Protocol):
    """A goal-conditioned task over a world (the evaluation protocol every world implements).

    ``reset_task`` draws a layout, a start and a goal from ``seed`` and returns the start
    observation and an observation of the world with the agent at the goal. After that the
    world is stepped with the usual Gymnasium ``step``; ``goal_distance`` and ``is_success``
    say how the episode is going in the world's own units. A world whose ``step`` clips
    actions to an L2 norm should say so in an optional ``max_action_norm`` attribute: the
    agent then plans inside that ball (:meth:`jepalab.agent.Agent.for_env`).
    """

    max_episode_steps: int

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(start_obs, goal_obs)``, each ``(H_img, W_img, C)`` uint8."""
        ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Gymnasium step."""
        ...

    def goal_distance(self) -> float:
        """Distance from the agent to the goal in world units."""
        ...

    def is_success(self) -> bool:
        """Whether the current state counts as having reached the goal."""
        ...

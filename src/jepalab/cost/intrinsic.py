"""The intrinsic cost: the energy the Actor minimises over imagined futures.

In the paper the Actor (Mode-2) searches for the action sequence whose predicted embeddings
have the lowest energy. :func:`goal_cost` is the hard-wired cost of *one* state: its
distance to the goal embedding. :data:`STEP_COST` is the cost of time: what every step
taken before the goal is reached costs, the cost the agent records in its short-term memory
and the critic learns to predict. :class:`GoalEnergy` scores a whole imagined future with
it: a weighted sum of named terms, each ``(N,)`` per candidate, and, when a trained
:class:`~jepalab.cost.Critic` is given, the critic's estimate of the cost still to come
after the horizon (the paper's trainable critic as terminal cost), and, when a trained
:class:`~jepalab.cost.HazardProbe` is given, how close the future comes to a forbidden
region.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError
from ..world_model.scene import map_steps

STEP_COST = 1.0
"""The intrinsic cost of time: every step taken before the goal is reached costs this much.

The agent records it for each step in its short-term memory, and the critic learns its
discounted sum, ``1 - gamma^T`` for a goal ``T`` steps away: how far the goal is *along the
paths the world allows*. The goal distance is no such measure: its discounted sum is low for
waiting beside the goal on the far side of a wall, and a critic of it led a horizon-6
planner into such stalls (0.925 success on Two-Rooms validation tasks against 1.0 with the
cost of time). A step costs the same whichever goal is pursued, so hindsight goals keep the
recorded cost."""


def goal_cost(state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance to the goal in embedding space: ``(..., D), (..., D) -> (...)``.

    The cost of *being* at ``state`` when pursuing ``goal``: what the planner's terminal and
    running terms add up over an imagined future.
    """
    return (state - goal).square().sum(-1)


class GoalEnergy(nn.Module):
    """The energy of a predicted future: goal costs along it, and the critic after it.

    ``E = terminal_weight * c(z_H) + running_weight * mean_h c(z_h)
    + critic_weight * V(z_H, g) + hazard_weight * max_h p(z_h)`` with ``c = goal_cost`` and
    ``p`` the hazard probe. The terminal term asks to be at the goal by the end of the
    horizon; the running term also rewards getting there early and staying; the critic term
    values where the horizon ends by what lies beyond it, so a short horizon can see past a
    wall; the hazard term is the closest the future comes to a forbidden region (its
    maximum, not its mean: one step inside ends the episode). New terms are one more entry
    of :attr:`weights` and one more branch of :meth:`terms`.
    """

    def __init__(
        self,
        terminal_weight: float = 1.0,
        running_weight: float = 0.0,
        critic: nn.Module | None = None,
        critic_weight: float = 1.0,
        hazard: nn.Module | None = None,
        hazard_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.weights = {"terminal": float(terminal_weight), "running": float(running_weight)}
        self.critic, self.hazard = critic, hazard
        if critic is not None:
            self.weights["critic"] = float(critic_weight)
        if hazard is not None:
            self.weights["hazard"] = float(hazard_weight)
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise JepalabError(f"energy weights must be >= 0 and not all zero, got {self.weights}")

    def terms(
        self, pred: torch.Tensor, goal: torch.Tensor, scene: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The unweighted ``(N,)`` terms whose weight is non-zero.

        Args:
            pred: ``(N, H, D)`` predicted embeddings after each action.
            goal: ``(N, D)`` goal embeddings.
            scene: ``(E, C, h, w)`` scene maps the rollouts read, every ``N / E``
                consecutive rollouts sharing one, or None; the hazard term asks
                ``hazard(states, scenes)`` about all ``N * H`` states at once
                (:func:`~jepalab.world_model.scene.map_steps`).
        """
        terms = {}
        if self.weights["terminal"]:
            terms["terminal"] = goal_cost(pred[:, -1], goal)
        if self.weights["running"]:
            terms["running"] = goal_cost(pred, goal[:, None]).mean(-1)
        if self.critic is not None and self.weights["critic"]:
            terms["critic"] = self.critic(pred[:, -1], goal)
        if self.hazard is not None and self.weights["hazard"]:
            terms["hazard"] = map_steps(self.hazard, scene, pred).amax(1)
        return terms

    def forward(
        self, pred: torch.Tensor, goal: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(N,)`` energy of ``(N, H, D)`` predictions for ``(N, D)`` goals (``scene``: as
        in :meth:`terms`)."""
        terms = self.terms(pred, goal, scene)
        return sum(self.weights[name] * term for name, term in terms.items())

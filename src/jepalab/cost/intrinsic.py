"""The intrinsic cost: the energy the Actor minimises over imagined futures.

In the paper the Actor (Mode-2) searches for the action sequence whose predicted embeddings
have the lowest energy. :func:`goal_cost` is the hard-wired cost of *one* state: its
distance to the goal embedding. :class:`GoalEnergy` scores a whole imagined future with
it: a weighted sum of named terms, each ``(N,)`` per candidate, and, when a trained
:class:`~jepalab.cost.Critic` is given, the critic's estimate of the cost still to come
after the horizon (the paper's trainable critic as terminal cost).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError


def goal_cost(state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance to the goal in embedding space: ``(..., D), (..., D) -> (...)``.

    The cost of *being* at ``state`` when pursuing ``goal``; the short-term memory records it
    for every step the agent takes and the critic learns to predict its discounted sum.
    """
    return (state - goal).square().sum(-1)


class GoalEnergy(nn.Module):
    """The energy of a predicted future: goal costs along it, and the critic after it.

    ``E = terminal_weight * c(z_H) + running_weight * mean_h c(z_h)
    + critic_weight * V(z_H, g)`` with ``c = goal_cost``. The terminal term asks to be at the
    goal by the end of the horizon; the running term also rewards getting there early and
    staying; the critic term values where the horizon ends by what lies beyond it, so a
    short horizon can see past a wall. New terms are one more entry of :attr:`weights` and
    one more branch of :meth:`terms`.
    """

    def __init__(
        self,
        terminal_weight: float = 1.0,
        running_weight: float = 0.0,
        critic: nn.Module | None = None,
        critic_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.weights = {"terminal": float(terminal_weight), "running": float(running_weight)}
        self.critic = critic
        if critic is not None:
            self.weights["critic"] = float(critic_weight)
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise JepalabError(f"energy weights must be >= 0 and not all zero, got {self.weights}")

    def terms(self, pred: torch.Tensor, goal: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted ``(N,)`` terms whose weight is non-zero.

        Args:
            pred: ``(N, H, D)`` predicted embeddings after each action.
            goal: ``(N, D)`` goal embeddings.
        """
        terms = {}
        if self.weights["terminal"]:
            terms["terminal"] = goal_cost(pred[:, -1], goal)
        if self.weights["running"]:
            terms["running"] = goal_cost(pred, goal[:, None]).mean(-1)
        if self.critic is not None and self.weights["critic"]:
            terms["critic"] = self.critic(pred[:, -1], goal)
        return terms

    def forward(self, pred: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``(N,)`` energy of ``(N, H, D)`` predictions for ``(N, D)`` goals."""
        terms = self.terms(pred, goal)
        return sum(self.weights[name] * term for name, term in terms.items())

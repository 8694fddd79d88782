"""The intrinsic cost: the energy the Actor minimises over imagined futures.

In the paper the Actor (Mode-2) searches for the action sequence whose predicted embeddings
have the lowest energy. Here the energy is a weighted sum of named terms, each ``(N,)`` per
candidate; today the only terms measure how far the imagined future is from the goal.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError


class GoalEnergy(nn.Module):
    """Squared Euclidean distance to the goal in embedding space (the paper's energy).

    ``E = terminal_weight * ||z_H - g||^2 + running_weight * mean_h ||z_h - g||^2``.
    The terminal term asks to be at the goal by the end of the horizon; the running term also
    rewards getting there early and staying. New terms are added as one more entry of
    :attr:`weights` and one more branch of :meth:`terms`.
    """

    def __init__(self, terminal_weight: float = 1.0, running_weight: float = 0.0) -> None:
        super().__init__()
        self.weights = {"terminal": float(terminal_weight), "running": float(running_weight)}
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
            terms["terminal"] = (pred[:, -1] - goal).square().sum(-1)
        if self.weights["running"]:
            terms["running"] = (pred - goal[:, None]).square().sum(-1).mean(-1)
        return terms

    def forward(self, pred: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``(N,)`` energy of ``(N, H, D)`` predictions for ``(N, D)`` goals."""
        terms = self.terms(pred, goal)
        return sum(self.weights[name] * term for name, term in terms.items())

"""Inverse-dynamics auxiliary head: which action turned s_t into s_t+1?

Asking the embedding to make the action recoverable forces it to keep what the agent
controls (its own position), which is exactly what a planner needs.
"""

from __future__ import annotations

import torch
from torch import nn


class InverseDynamics(nn.Module):
    """``z_t (..., D), z_next (..., D) -> a (..., A)``, linear in the change ``z_next - z_t``.

    A linear read-out of the *difference* is deliberate: it can only succeed if some
    directions of the embedding move in proportion to the agent's displacement, i.e. if
    position is encoded linearly, the geometry a distance-minimising planner needs. (An MLP
    on the pair can succeed with any tangled code, and learns far more slowly.)
    """

    def __init__(self, embed_dim: int, action_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(embed_dim, action_dim)

    def forward(self, z_t: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return self.net(z_next - z_t)

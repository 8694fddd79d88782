"""Inverse-dynamics auxiliary head: which action turned s_t into s_t+1?

Asking the embedding to make the action recoverable forces it to keep what the agent
controls (its own position), which is exactly what a planner needs.
"""

from __future__ import annotations

import torch
from torch import nn


class InverseDynamics(nn.Module):
    """``z_t (..., D), z_next (..., D) -> a (..., A)``."""

    def __init__(self, embed_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * embed_dim, hidden), nn.GELU(), nn.Linear(hidden, action_dim)
        )

    def forward(self, z_t: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z_t, z_next], -1))

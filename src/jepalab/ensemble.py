"""Small ensembles of MLPs evaluated as one batched matrix product.

The Mode-1 policy and the critic are ensembles: their members' disagreement says where
they are unsure (Mode-1 hands over to Mode-2 there), and a pessimistic aggregate keeps a
planner from exploiting one member's mistakes (the critic's maximum cost to come).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers: ``(M, N, I) -> (M, N, O)``."""

    def __init__(self, members: int, fan_in: int, fan_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """``members`` MLPs with SiLU between ``len(sizes) - 1`` layers: ``(N, I) -> (M, N, O)``
    for ``sizes = (I, hidden..., O)``."""

    def __init__(self, members: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.members = members
        self.layers = nn.ModuleList(EnsembleLinear(members, i, o) for i, o in pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(self.members, *x.shape)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.silu(x)
        return x


def bootstrap_mean(err: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean of the ``(M, N)`` per-member errors, each member weighing the batch by its own
    Poisson(1) bootstrap draw: members see different data and so learn to disagree where
    the data leave them free to."""
    weight = torch.poisson(torch.ones_like(err), generator=generator)
    return (weight * err).sum() / weight.sum().clamp(min=1)

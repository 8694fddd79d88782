"""World-model predictors: s' = Pred(s, a), one step at a time.

All predictors share one interface, ``step(z (N, D), a (N, A)) -> (N, D)``, and predict a
residual (the change of the embedding), so an untrained predictor starts as "nothing
moves". Multi-step rollouts are built from ``step`` by :class:`~.jepa.WorldModel`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError


class MLPPredictor(nn.Module):
    """Residual MLP on ``[z, a]``."""

    def __init__(self, embed_dim: int, action_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        mods: list[nn.Module] = []
        width = embed_dim + action_dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        mods.append(nn.Linear(width, embed_dim))
        self.net = nn.Sequential(*mods)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + self.net(torch.cat([z, a], -1))


class GRUPredictor(nn.Module):
    """A GRU cell whose hidden state is the embedding and whose input is the action."""

    def __init__(self, embed_dim: int, action_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        del layers  # one cell; depth comes from the action encoder
        self.action_in = nn.Sequential(nn.Linear(action_dim, hidden), nn.GELU())
        self.cell = nn.GRUCell(hidden, embed_dim)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.cell(self.action_in(a), z)


class TransformerPredictor(nn.Module):
    """Self-attention over the embedding split into tokens plus one action token."""

    def __init__(
        self, embed_dim: int, action_dim: int, hidden: int = 256, layers: int = 2, tokens: int = 4
    ):
        super().__init__()
        if embed_dim % tokens:
            raise JepalabError(
                f"transformer predictor: embed_dim {embed_dim} % tokens {tokens} != 0"
            )
        self.tokens, width = tokens, 64
        self.z_in = nn.Linear(embed_dim // tokens, width)
        self.a_in = nn.Linear(action_dim, width)
        self.pos = nn.Parameter(torch.zeros(tokens + 1, width))
        layer = nn.TransformerEncoderLayer(
            width, nhead=4, dim_feedforward=hidden, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(width, embed_dim // tokens)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        zt = self.z_in(z.unflatten(-1, (self.tokens, -1)))  # (N, k, W)
        x = torch.cat([zt, self.a_in(a).unsqueeze(1)], 1) + self.pos
        delta = self.out(self.blocks(x)[:, : self.tokens]).flatten(1)
        return z + delta


PREDICTORS = {"mlp": MLPPredictor, "gru": GRUPredictor, "transformer": TransformerPredictor}


def make_predictor(
    name: str, embed_dim: int, action_dim: int, hidden: int, layers: int
) -> nn.Module:
    if name not in PREDICTORS:
        raise JepalabError(f"unknown predictor '{name}'; choose one of {sorted(PREDICTORS)}")
    return PREDICTORS[name](embed_dim, action_dim, hidden=hidden, layers=layers)

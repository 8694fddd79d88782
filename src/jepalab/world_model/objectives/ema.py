"""EMA target encoder (BYOL, I-JEPA, V-JEPA): predict a slowly moving copy of the encoder.

The targets come from an exponential moving average of the online encoder, with no
gradient. The asymmetry (predictor on one side, a stop-gradient average on the other)
keeps the representation from collapsing without any explicit regulariser.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .base import AntiCollapse


class EMATarget(AntiCollapse):
    def __init__(self, encoder: nn.Module, momentum: float = 0.99) -> None:
        super().__init__()
        self.momentum = momentum
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)

    @torch.no_grad()
    def targets(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        flat = obs.reshape(-1, *obs.shape[-3:])
        return self.target_encoder(flat).reshape(z.shape)

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        online = model.encoder.parameters()
        for t, o in zip(self.target_encoder.parameters(), online, strict=True):
            t.lerp_(o.detach(), 1.0 - self.momentum)

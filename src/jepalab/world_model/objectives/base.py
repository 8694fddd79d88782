"""The anti-collapse interface.

A JEPA trained on prediction error alone maps every observation to one constant. Each
objective here prevents that in its own way, behind one interface:

* ``targets(obs, z)``: what the predictor must match (the online embeddings ``z`` by
  default; an EMA encoder's embeddings for :class:`~.ema.EMATarget`);
* ``regularizer(z)``: a loss on a batch of embeddings ``(N, D)`` that is large when they
  collapse, with named terms for logging (detached 0-dim tensors: reading a number off
  the device each step would wait for it, and breaks a compiled graph);
* ``after_step(model)``: called after each optimiser step (the EMA update).
"""

from __future__ import annotations

import torch
from torch import nn


class AntiCollapse(nn.Module):
    """Base class; subclasses override what they need."""

    def targets(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``obs (B, T, H, W, C)``, ``z (B, T, D)`` -> prediction targets ``(B, T, D)``."""
        del obs
        return z

    def regularizer(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``z (N, D)`` -> (loss, named terms)."""
        return z.new_zeros(()), {}

    def after_step(self, model: nn.Module) -> None:
        del model

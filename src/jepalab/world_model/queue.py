"""A loss term's queue of recent batches, kept in its state dict at whatever length it has
reached, so that a resumed run goes on with the queue an uninterrupted one would have."""

from __future__ import annotations

import torch
from torch import nn


def load_queues(module: nn.Module, state_dict: dict, prefix: str, names: tuple[str, ...]) -> None:
    """Give each queue buffer ``names`` of ``module`` the shape of its saved queue, so that
    ``load_state_dict`` can copy it in: a queue grows over training from empty, and
    loading checks shapes. Call from ``_load_from_state_dict``."""
    for name in names:
        saved = state_dict.get(prefix + name)
        if saved is not None:
            now = getattr(module, name)
            setattr(module, name, torch.empty(saved.shape, dtype=now.dtype, device=now.device))

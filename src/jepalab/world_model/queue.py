"""A loss term's queue of recent batches, kept in its state dict at whatever length it has
reached, so that a resumed run goes on with the queue an uninterrupted one would have."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def resize_queues(*names: str) -> Callable[..., None]:
    """A ``load_state_dict`` pre-hook that gives each queue buffer ``names`` of the module
    the shape of its saved queue, so that loading can copy it in: a queue grows over
    training from empty, and loading checks shapes."""

    def hook(module: nn.Module, state_dict: dict, prefix: str, *_: object) -> None:
        for name in names:
            saved = state_dict.get(prefix + name)
            if saved is not None:
                now = getattr(module, name)
                setattr(module, name, torch.empty(saved.shape, dtype=now.dtype, device=now.device))

    return hook

"""Collapse monitor: is the representation still using its dimensions?

Logged during every training run. A collapsed encoder shows a per-dimension standard
deviation near 0 and an effective rank near 1.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def collapse_stats(z: torch.Tensor) -> dict[str, float]:
    """``z (N, D)`` -> mean and min per-dim std, and effective rank (exp of the entropy of
    the normalised singular values, Roy & Vetterli 2007; between 1 and D)."""
    z = z.float()
    std = z.std(0)
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {
        "std_mean": float(std.mean()),
        "std_min": float(std.min()),
        "eff_rank": float(entropy.exp()),
    }

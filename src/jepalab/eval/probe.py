"""Linear probe: how linearly does the embedding encode the true state?

A diagnostic of the representation, not part of the agent: a ridge regression from
embeddings to the agent's true position, fitted on one half of the samples and scored
on the other.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def linear_probe(z: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> dict[str, float]:
    """``z (N, D)``, ``y (N, S)`` -> held-out ``probe_rmse`` (units of y) and ``probe_r2``."""
    z, y = z.double(), y.double()
    n = z.shape[0] // 2
    x = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1)
    xtr, ytr, xte, yte = x[:n], y[:n], x[n:], y[n:]
    w = torch.linalg.solve(xtr.T @ xtr + ridge * torch.eye(x.shape[1], dtype=x.dtype), xtr.T @ ytr)
    err = xte @ w - yte
    rmse = err.pow(2).sum(-1).mean().sqrt()
    r2 = 1 - err.pow(2).sum() / (yte - yte.mean(0)).pow(2).sum()
    return {"probe_rmse": float(rmse), "probe_r2": float(r2)}

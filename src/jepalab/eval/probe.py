"""Linear probe: how linearly does the embedding encode the true state?

A diagnostic of the representation, not part of the agent: a ridge regression from
embeddings to the agent's true position, fitted on one half of the samples and scored
on the other. The same probe decodes imagined states (subgoals) for people.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LinearProbe:
    """A ridge regression from embeddings ``(N, D)`` to true states ``(N, S)``; its
    ``weight`` is ``(D + 1, S)`` (the last row the bias)."""

    weight: torch.Tensor

    @classmethod
    @torch.no_grad()
    def fit(cls, z: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> LinearProbe:
        x = _with_bias(z.double())
        eye = torch.eye(x.shape[1], dtype=x.dtype)
        return cls(torch.linalg.solve(x.T @ x + ridge * eye, x.T @ y.double()))

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` embeddings -> ``(N, S)`` state estimates (float32)."""
        return (_with_bias(z.double()) @ self.weight).float()


def _with_bias(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1)


@torch.no_grad()
def linear_probe(z: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> dict[str, float]:
    """``z (N, D)``, ``y (N, S)`` -> held-out ``probe_rmse`` (units of y) and ``probe_r2``."""
    n = z.shape[0] // 2
    probe = LinearProbe.fit(z[:n], y[:n], ridge)
    yte = y[n:].double()
    err = probe(z[n:]).double() - yte
    rmse = err.pow(2).sum(-1).mean().sqrt()
    r2 = 1 - err.pow(2).sum() / (yte - yte.mean(0)).pow(2).sum()
    return {"probe_rmse": float(rmse), "probe_r2": float(r2)}

"""VICReg (Bardes, Ponce, LeCun 2022): variance and covariance regularisation.

* variance: ``mean_j relu(1 - sqrt(Var(z_j) + eps))``, keeps every dimension alive;
* covariance: ``sum_{i != j} C_ij^2 / D`` with ``C`` the batch covariance, decorrelates
  dimensions so that they carry different information.

The invariance term of VICReg is the JEPA prediction loss itself.
"""

from __future__ import annotations

import torch

from .base import AntiCollapse


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge on the per-dimension standard deviation. ``z (N, D)`` -> scalar."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return torch.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances over D. ``z (N, D)`` -> scalar."""
    n, d = z.shape
    zc = z - z.mean(0)
    cov = zc.T @ zc / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


class VICReg(AntiCollapse):
    def __init__(self, std_weight: float = 1.0, cov_weight: float = 0.04) -> None:
        super().__init__()
        self.std_weight, self.cov_weight = std_weight, cov_weight

    def regularizer(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        std, cov = variance_term(z), covariance_term(z)
        loss = self.std_weight * std + self.cov_weight * cov
        return loss, {"vicreg_std": std.detach(), "vicreg_cov": cov.detach()}

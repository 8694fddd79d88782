"""SIGReg (Balestriero & LeCun, LeJEPA 2025): push embeddings towards an isotropic Gaussian.

Sketched Isotropic Gaussian Regularisation projects the batch onto random unit directions
and applies the Epps-Pulley test of normality to each 1-D projection: the weighted L2
distance between the empirical characteristic function and that of N(0, 1),

    EP = N * integral |phi_N(t) - exp(-t^2 / 2)|^2 exp(-t^2 / 2) dt,

integrated with the trapezoid rule on [-t_max, t_max] (the integrand is even, so on
[0, t_max] with doubled weights). It is near 0 for Gaussian samples and large for
collapsed ones; its gradient is well behaved, so it needs no stop-gradient or EMA.
"""

from __future__ import annotations

import torch

from .base import AntiCollapse


def epps_pulley(x: torch.Tensor, t_max: float = 3.0, knots: int = 17) -> torch.Tensor:
    """Epps-Pulley statistic of each column. ``x (N, M)`` -> ``(M,)``."""
    t = torch.linspace(0.0, t_max, knots, device=x.device, dtype=x.dtype)
    dt = t_max / (knots - 1)
    trap = torch.full((knots,), 2 * dt, device=x.device, dtype=x.dtype)
    trap[0] = trap[-1] = dt
    gauss_cf = torch.exp(-0.5 * t.square())
    xt = x.unsqueeze(-1) * t  # (N, M, K)
    err = (xt.cos().mean(0) - gauss_cf).square() + xt.sin().mean(0).square()  # (M, K)
    return (err * gauss_cf) @ trap * x.shape[0]


def sigreg(z: torch.Tensor, projections: int = 64, generator: torch.Generator | None = None):
    """Mean Epps-Pulley statistic over random unit directions. ``z (N, D)`` -> scalar."""
    dirs = torch.randn(z.shape[1], projections, generator=generator, device=z.device)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    return epps_pulley(z @ dirs.to(z.dtype)).mean()


class SIGReg(AntiCollapse):
    def __init__(self, weight: float = 0.1, projections: int = 64) -> None:
        super().__init__()
        self.weight, self.projections = weight, projections

    def regularizer(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        stat = sigreg(z, self.projections)
        return self.weight * stat, {"sigreg": stat.detach()}

"""Model-predictive path integral: move the mean to an exponentially weighted average of samples."""

from __future__ import annotations

import torch

from .planner import SamplingPlanner


class MPPIPlanner(SamplingPlanner, name="mppi"):
    """Weight every sample by ``exp(-(E - E_min) / lambda)`` and average.

    ``lambda = temperature * (median energy - min energy)`` per environment, so the
    temperature does not depend on the units of the energy: with the default 0.05, a sample
    5% of the way from the best to the median candidate weighs ``1/e`` of the best. The
    sampling std follows the weighted spread of the samples, floored at ``min_std``.
    """

    scores_final_mean = True

    def _refit(
        self, mean: torch.Tensor, std: torch.Tensor, candidates: torch.Tensor, energy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        weights = self._weights(energy)
        # A convex combination of feasible samples: the mean stays feasible.
        mean = torch.einsum("ec,ecka->eka", weights, candidates)
        variance = torch.einsum("ec,ecka->eka", weights, (candidates - mean[:, None]).square())
        return mean, variance.sqrt()

    def _weights(self, energy: torch.Tensor) -> torch.Tensor:
        """``(E, C)`` softmax weights of ``(E, C)`` energies (see the class docstring)."""
        lowest = energy.min(dim=1, keepdim=True).values
        gap = energy.median(dim=1, keepdim=True).values - lowest
        temperature = self.config.temperature * gap.clamp(min=torch.finfo(energy.dtype).tiny)
        return torch.softmax(-(energy - lowest) / temperature, dim=1)

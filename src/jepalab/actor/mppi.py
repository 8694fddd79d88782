"""Model-predictive path integral: move the mean to an exponentially weighted average of samples."""

from __future__ import annotations

import math

import torch

from .planner import Planner


class MPPIPlanner(Planner, name="mppi"):
    """Weight every sample by ``exp(-(E - E_min) / lambda)`` and average.

    ``lambda = temperature * (median energy - min energy)`` per environment, so the
    temperature does not depend on the units of the energy: with the default 0.05, a sample
    5% of the way from the best to the median candidate weighs ``1/e`` of the best. The
    sampling std follows the weighted spread of the samples, floored at ``min_std``.
    """

    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        num_envs = mean.shape[0]
        samples = cfg.samples
        starts, goals = self._repeat(z0, samples), self._repeat(z_goal, samples)
        scale = self._scale(mean)
        std = (cfg.init_std * scale).expand_as(mean)
        min_std = cfg.min_std * scale
        best, best_energy = mean, mean.new_full((num_envs,), math.inf)
        for _ in range(cfg.iterations):
            candidates = self._candidates(mean, std)
            energy = self._score(starts, goals, candidates)
            best, best_energy = self._keep_best(best, best_energy, candidates, energy)
            weights = self._weights(energy)
            # A convex combination of feasible samples: the mean stays feasible.
            mean = torch.einsum("ec,ecka->eka", weights, candidates)
            variance = torch.einsum("ec,ecka->eka", weights, (candidates - mean[:, None]).square())
            std = torch.maximum(variance.sqrt(), min_std)
        # The final mean has not been scored yet; keep it unless a sample was better.
        final = self._score(z0, z_goal, mean[:, None])
        return self._keep_best(mean, final[:, 0], best[:, None], best_energy[:, None])

    def _weights(self, energy: torch.Tensor) -> torch.Tensor:
        """``(E, C)`` softmax weights of ``(E, C)`` energies (see the class docstring)."""
        lowest = energy.min(dim=1, keepdim=True).values
        gap = energy.median(dim=1, keepdim=True).values - lowest
        temperature = self.config.temperature * gap.clamp(min=torch.finfo(energy.dtype).tiny)
        return torch.softmax(-(energy - lowest) / temperature, dim=1)

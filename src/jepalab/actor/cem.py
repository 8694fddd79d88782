"""Cross-entropy method: refit a Gaussian over decision actions to the lowest-energy samples."""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..protocols import RolloutModel
from .bounds import ActionBounds
from .planner import EnergyFn, Planner, PlannerConfig, UncertaintyFn


class CEMPlanner(Planner, name="cem"):
    """Sample around a diagonal Gaussian, keep the ``elites`` best, refit, repeat.

    The current mean is always one of the candidates, so an iteration never loses the plan
    it started from, and the best candidate ever scored is what :meth:`plan` returns.
    """

    def __init__(
        self,
        model: RolloutModel,
        energy: EnergyFn,
        bounds: ActionBounds,
        config: PlannerConfig,
        uncertainty: UncertaintyFn | None = None,
    ) -> None:
        super().__init__(model, energy, bounds, config, uncertainty)
        if not 1 <= config.elites <= config.samples:
            raise ConfigError(
                f"planner.elites must be in [1, samples={config.samples}], got {config.elites}"
            )

    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        num_envs = mean.shape[0]
        samples = cfg.samples
        z0, z_goal = self._repeat(z0, samples), self._repeat(z_goal, samples)
        scale = self._scale(mean)
        std = (cfg.init_std * scale).expand_as(mean)
        min_std = cfg.min_std * scale
        best, best_energy = mean, mean.new_full((num_envs,), math.inf)
        envs = torch.arange(num_envs, device=mean.device)[:, None]
        for _ in range(cfg.iterations):
            candidates = self._candidates(mean, std)
            energy = self._score(z0, z_goal, candidates)
            best, best_energy = self._keep_best(best, best_energy, candidates, energy)
            elites = candidates[envs, energy.topk(cfg.elites, dim=1, largest=False).indices]
            # Elites are feasible and the feasible set is convex, so the mean stays feasible.
            mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(dim=1)
            std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(dim=1, correction=0)
            std = torch.maximum(std, min_std)
        return best, best_energy

"""Cross-entropy method: refit a Gaussian over decision actions to the lowest-energy samples."""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..protocols import RolloutModel
from .bounds import ActionBounds
from .planner import EnergyFn, PlannerConfig, SamplingPlanner, UncertaintyFn


class CEMPlanner(SamplingPlanner, name="cem"):
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

    def _refit(
        self, mean: torch.Tensor, std: torch.Tensor, candidates: torch.Tensor, energy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        best = energy.topk(cfg.elites, dim=1, largest=False).indices  # (E, elites)
        elites = candidates.take_along_dim(best[:, :, None, None], dim=1)
        # Elites are feasible and the feasible set is convex, so the mean stays feasible.
        mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(dim=1)
        std = cfg.momentum * std + (1 - cfg.momentum) * elites.std(dim=1, correction=0)
        return mean, std

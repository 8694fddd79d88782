"""Gradient-based planning: Adam on the decision actions through the differentiable world model."""

from __future__ import annotations

import math

import torch

from .planner import Planner

# Adam's usual constants. Adam is written out because torch.optim.Adam's first step imports
# torch._dynamo (over a second), which would land on the first replan of every process.
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class GradientPlanner(Planner, name="gradient"):
    """Descend the energy from the warm start and ``restarts`` random starts per environment.

    Each Adam step moves an action by about ``lr`` times the bound scale and is followed by
    a projection into the bounds. Gradients go to the actions only: the model's ``.grad``
    fields are left untouched.
    """

    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        num_envs, steps, action_dim = mean.shape
        z0, z_goal = self._repeat(z0, cfg.restarts + 1), self._repeat(z_goal, cfg.restarts + 1)
        scale = self._scale(mean)
        noise = self._noise((num_envs, cfg.restarts, steps, action_dim), like=mean)
        sampled = self.bounds.project(mean[:, None] + cfg.init_std * scale * noise)
        actions = torch.cat([mean[:, None], sampled], dim=1)
        first, second = torch.zeros_like(actions), torch.zeros_like(actions)
        best, best_energy = mean, mean.new_full((num_envs,), math.inf)
        for step in range(1, cfg.iterations + 1):
            with torch.enable_grad():
                actions.requires_grad_()
                energy = self._score(z0, z_goal, actions)
                (grad,) = torch.autograd.grad(energy.sum(), actions)
            actions, energy = actions.detach(), energy.detach()
            best, best_energy = self._keep_best(best, best_energy, actions, energy)
            first.lerp_(grad, 1 - _BETA1)
            second.lerp_(grad.square(), 1 - _BETA2)
            direction = (first / (1 - _BETA1**step)) / ((second / (1 - _BETA2**step)).sqrt() + _EPS)
            actions = self.bounds.project(actions - cfg.lr * scale * direction)
        return self._keep_best(best, best_energy, actions, self._score(z0, z_goal, actions))

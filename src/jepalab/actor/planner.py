"""Mode-2 planning: search for the action sequence whose imagined future has the lowest energy.

A planner optimises ``K = ceil(horizon / action_repeat)`` *decision* actions, each held for
``action_repeat`` steps, so a long horizon costs fewer variables but the same world model.
Every iteration scores all candidates of all environments with ONE batched
``model.rollout`` call of ``N = E * C`` sequences; that batching is what keeps replanning
fast on a CPU.

Shapes: ``E`` environments, ``C`` candidates per environment, ``H`` horizon, ``K`` decision
actions, ``A`` action size, ``D`` embedding size.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError, JepalabError
from ..protocols import RolloutModel
from ..world_model.scene import map_steps
from .bounds import ActionBounds

EnergyFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""``energy(pred (N, H, D), goal (N, D), scene (E, ...) or None) -> (N,)``, e.g.
:class:`jepalab.cost.GoalEnergy`; ``scene`` is the scene map the rollouts read (every ``N / E``
consecutive rollouts share one), for terms that look at the world around a state."""

UncertaintyFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""``spread(z (N, D), a (N, A), scene) -> (N,)``: how unsure the model is of the step from
``z`` under ``a``, e.g. the ``spread`` of a
:class:`~jepalab.world_model.predictor_ensemble.PredictorEnsemble`."""

PLANNERS: dict[str, type[Planner]] = {}
"""Planners by name; each registers itself with ``class X(Planner, name="x")``."""


@dataclass
class PlannerConfig:
    """Settings shared by all planners; each planner reads the fields it needs.

    Noise scales (``init_std``, ``min_std``) and the gradient step size (``lr``) are fractions
    of :attr:`ActionBounds.scale`, so one config fits action spaces of any size.
    """

    name: str = "cem"  # cem | mppi | gradient
    # Predicted (world-model) steps H; with model.frame_skip 2 these 24 are 48 environment
    # steps. Longer horizons did worse on Two-Rooms (more room to exploit model errors).
    horizon: int = 24
    action_repeat: int = 3  # predicted steps each decision action is held for
    # Latency grows with sequential depth (iterations x horizon), hardly with the batch of
    # samples: 2 iterations of 192 beat 3 of 128 in success and time.
    samples: int = 192  # candidates per environment and iteration (CEM, MPPI)
    iterations: int = 2  # sampling iterations (CEM, MPPI) or Adam steps (gradient)
    elites: int = 48  # candidates the CEM Gaussian is refitted to
    temperature: float = 0.05  # MPPI, relative to the best-to-median energy gap
    init_std: float = 1.0  # initial sampling std
    min_std: float = 0.05  # floor on the sampling std (CEM, MPPI)
    momentum: float = 0.1  # weight of the previous CEM mean/std when refitting
    lr: float = 0.1  # Adam step size (gradient)
    restarts: int = 8  # random starts per environment besides the warm start (gradient)
    # Risk-averse planning: add this times the predictor ensemble's mean spread along the
    # plan to its energy (only with an ensemble, world_model/predictor_ensemble.py).
    risk: float = 0.0
    seed: int = 0


@dataclass
class PlanResult:
    """The chosen plan of each environment."""

    actions: torch.Tensor  # (E, H, A) per-step actions, inside the bounds
    energy: torch.Tensor  # (E,) energy of that plan under the world model


class Planner(ABC):
    """Base of all planners: input checks, candidate batching and seeded noise.

    The world model should be in eval mode: candidates are scored in one batch and must not
    influence each other (as batch norm in training mode would make them).
    """

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            PLANNERS[name] = cls

    def __init__(
        self,
        model: RolloutModel,
        energy: EnergyFn,
        bounds: ActionBounds,
        config: PlannerConfig,
        uncertainty: UncertaintyFn | None = None,
    ) -> None:
        _check_config(config)
        if config.risk > 0 and uncertainty is None:
            raise ConfigError("planner.risk > 0 needs an uncertainty estimate (an ensemble)")
        self.model = model
        self.energy = energy
        self.bounds = bounds
        self.config = config
        self.uncertainty = uncertainty
        self._generator = torch.Generator().manual_seed(config.seed)
        self._scene: torch.Tensor | None = None  # set for the duration of one plan()

    @property
    def decisions(self) -> int:
        """The number ``K`` of decision actions in a plan."""
        return math.ceil(self.config.horizon / self.config.action_repeat)

    def plan(
        self,
        z0: torch.Tensor,
        z_goal: torch.Tensor,
        init: torch.Tensor | None = None,
        scene: torch.Tensor | None = None,
    ) -> PlanResult:
        """Plan from ``(E, D)`` start embeddings to ``(E, D)`` goal embeddings.

        Args:
            z0: ``(E, D)`` embeddings of the current observations.
            z_goal: ``(E, D)`` embeddings of the goal observations.
            init: optional ``(E, H, A)`` warm start, usually the previous plan shifted; the
                first step of each held block seeds the search. Without it the search starts
                from the zero action (projected into the bounds).
            scene: the ``(E, ...)`` scene maps of the current observations, for world models
                that read one (``model.scene_map(obs)``); every rollout of environment ``e``
                reads row ``e``.
        """
        self._check_inputs(z0, z_goal, init)
        self._scene = scene
        try:
            with torch.no_grad():
                shape = (z0.shape[0], self.decisions, self.bounds.dim)
                start = (
                    z0.new_zeros(shape) if init is None else init[:, :: self.config.action_repeat]
                )
                decisions, energy = self._optimise(z0, z_goal, self.bounds.project(start.to(z0)))
                return PlanResult(self._expand(decisions), energy)
        finally:
            self._scene = None

    @abstractmethod
    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Search from the feasible ``(E, K, A)`` ``mean``; return the best ``(E, K, A)``
        decisions found and their ``(E,)`` energies."""

    def _expand(self, decisions: torch.Tensor) -> torch.Tensor:
        """``(..., K, A)`` decisions to ``(..., H, A)`` per-step actions."""
        repeat = self.config.action_repeat
        if repeat == 1:
            return decisions
        return decisions.repeat_interleave(repeat, dim=-2)[..., : self.config.horizon, :]

    @staticmethod
    def _repeat(z: torch.Tensor, candidates: int) -> torch.Tensor:
        """``(E, D)`` to ``(E * C, D)``, each row repeated for its ``C`` candidates."""
        return z if candidates == 1 else z.repeat_interleave(candidates, dim=0)

    def _score(
        self, z0: torch.Tensor, z_goal: torch.Tensor, decisions: torch.Tensor
    ) -> torch.Tensor:
        """``(E, C)`` energies of ``(E, C, K, A)`` decisions with one batched rollout.

        ``z0`` and ``z_goal`` are ``(E * C, D)``, already repeated by :meth:`_repeat`. A NaN
        energy (a diverging model) becomes ``+inf`` so that it never wins.
        """
        num_envs, candidates = decisions.shape[:2]
        actions = self._expand(decisions).reshape(num_envs * candidates, self.config.horizon, -1)
        if self._scene is None:
            pred = self.model.rollout(z0, actions)
        else:
            pred = self.model.rollout(z0, actions, scene=self._scene)
        if pred.shape[:2] != actions.shape[:2]:
            raise JepalabError(
                f"model.rollout returned {tuple(pred.shape)} for actions {tuple(actions.shape)}; "
                "expected (N, H, D)"
            )
        energy = self.energy(pred, z_goal, self._scene)
        if self.uncertainty is not None and self.config.risk > 0:
            before = torch.cat([z0[:, None], pred[:, :-1]], 1)  # the state each step starts at
            spread = map_steps(self.uncertainty, self._scene, before, actions)
            energy = energy + self.config.risk * spread.mean(1)
        return energy.nan_to_num(nan=math.inf).view(num_envs, candidates)

    def _candidates(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """``(E, C, K, A)`` candidates: the ``(E, K, A)`` mean itself, then ``C - 1`` Gaussian
        samples around it with ``std``, projected into the bounds."""
        num_envs, steps, action_dim = mean.shape
        noise = self._noise((num_envs, self.config.samples - 1, steps, action_dim), like=mean)
        sampled = self.bounds.project(mean[:, None] + std[:, None] * noise)
        return torch.cat([mean[:, None], sampled], dim=1)

    def _noise(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise from the planner's own seeded generator."""
        if self._generator.device != like.device:
            self._generator = torch.Generator(like.device).manual_seed(self.config.seed)
        return torch.randn(shape, generator=self._generator, device=like.device, dtype=like.dtype)

    def _scale(self, like: torch.Tensor) -> torch.Tensor:
        """``(A,)`` bound scale on the device and dtype of ``like``."""
        return self.bounds.scale.to(like)

    @staticmethod
    def _keep_best(
        best: torch.Tensor,
        best_energy: torch.Tensor,
        candidates: torch.Tensor,
        energy: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fold ``(E, C, K, A)`` candidates scored ``(E, C)`` into the running best."""
        energy, index = energy.min(dim=1)
        challenger = candidates[torch.arange(len(index), device=index.device), index]
        better = energy < best_energy
        return (
            torch.where(better[:, None, None], challenger, best),
            torch.where(better, energy, best_energy),
        )

    def _check_inputs(
        self, z0: torch.Tensor, z_goal: torch.Tensor, init: torch.Tensor | None
    ) -> None:
        if z0.dim() != 2 or z_goal.dim() != 2:
            raise JepalabError(
                f"z0 and z_goal must be (E, D), got {tuple(z0.shape)} and {tuple(z_goal.shape)}"
            )
        if z0.shape[0] != z_goal.shape[0]:
            raise JepalabError(f"z0 has {z0.shape[0]} environments but z_goal {z_goal.shape[0]}")
        if z0.shape[1] != z_goal.shape[1]:
            raise JepalabError(f"z0 has embedding size {z0.shape[1]} but z_goal {z_goal.shape[1]}")
        if not (torch.isfinite(z0).all() and torch.isfinite(z_goal).all()):
            raise JepalabError("z0 and z_goal must be finite")
        if init is None:
            return
        expected = (z0.shape[0], self.config.horizon, self.bounds.dim)
        if tuple(init.shape) != expected:
            raise JepalabError(f"init must be (E, H, A) = {expected}, got {tuple(init.shape)}")
        if not torch.isfinite(init).all():
            raise JepalabError("init must be finite")


class SamplingPlanner(Planner):
    """Sample candidates around a diagonal Gaussian over the decisions, keep the best ever
    scored, refit the Gaussian to the scores (:meth:`_refit`), repeat. The std starts at
    ``init_std`` and never falls below ``min_std``, both in units of the bounds' scale."""

    # Whether the last refit's mean, a plan no iteration scored, may be the answer (MPPI's
    # weighted average can beat every sample; CEM returns the best sample).
    scores_final_mean = False

    def _optimise(
        self, z0: torch.Tensor, z_goal: torch.Tensor, mean: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        starts, goals = self._repeat(z0, cfg.samples), self._repeat(z_goal, cfg.samples)
        scale = self._scale(mean)
        std = (cfg.init_std * scale).expand_as(mean)
        min_std = cfg.min_std * scale
        best, best_energy = mean, mean.new_full((mean.shape[0],), math.inf)
        for _ in range(cfg.iterations):
            candidates = self._candidates(mean, std)
            energy = self._score(starts, goals, candidates)
            best, best_energy = self._keep_best(best, best_energy, candidates, energy)
            mean, std = self._refit(mean, std, candidates, energy)
            std = torch.maximum(std, min_std)
        if not self.scores_final_mean:
            return best, best_energy
        # The final mean has not been scored yet; keep it unless a sample was better.
        final = self._score(z0, z_goal, mean[:, None])
        return self._keep_best(mean, final[:, 0], best[:, None], best_energy[:, None])

    @abstractmethod
    def _refit(
        self, mean: torch.Tensor, std: torch.Tensor, candidates: torch.Tensor, energy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(E, K, A)`` mean and std from ``(E, C, K, A)`` candidates scored
        ``(E, C)``. The mean must stay feasible."""


def make_planner(
    model: RolloutModel,
    energy: EnergyFn,
    bounds: ActionBounds,
    config: PlannerConfig,
    uncertainty: UncertaintyFn | None = None,
) -> Planner:
    """The planner named ``config.name`` (risk-averse with an ``uncertainty`` estimate and
    ``config.risk > 0``)."""
    if config.name not in PLANNERS:
        raise JepalabError(f"unknown planner '{config.name}'; choose one of {sorted(PLANNERS)}")
    return PLANNERS[config.name](model, energy, bounds, config, uncertainty)


def _check_config(config: PlannerConfig) -> None:
    """Raise :class:`ConfigError` for values no planner can work with."""
    positive = ("horizon", "action_repeat", "samples", "iterations", "temperature", "lr")
    for key in positive:
        if not getattr(config, key) > 0:
            raise ConfigError(f"planner.{key} must be positive, got {getattr(config, key)}")
    for key in ("init_std", "min_std", "restarts", "risk"):
        if not getattr(config, key) >= 0:
            raise ConfigError(f"planner.{key} must be >= 0, got {getattr(config, key)}")
    if not 0 <= config.momentum < 1:
        raise ConfigError(f"planner.momentum must be in [0, 1), got {config.momentum}")

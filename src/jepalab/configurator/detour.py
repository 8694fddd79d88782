"""Detours: when the planner comes to rest off the goal, go somewhere else and try again.

A receding-horizon planner descends the goal cost a short horizon at a time. Where that
cost has a false minimum, or where the horizon sees no way down, the agent comes to rest
off the goal, and since every short plan from there costs more before it would cost
less, it stays. (On the MuJoCo Reacher, BENCHMARKS session 29: arms parked far from
an open goal, and folded goals whose *swapped V* the encoder draws nearly alike.) The
Configurator notices and changes the agent's immediate goal: for ``steps`` decisions
Mode-2 aims at a state drawn from the agent's memory of the world (embeddings of frames
of its own dataset), then at the real goal again, a fresh descent from elsewhere.

*Stalled* means: for ``patience`` decisions in a row the embedding moved less than
``rest`` typical steps over the last two decisions and the goal cost did not fall below
0.95 of its lowest at the last progress, while it stays above ``cost`` typical steps (at
the goal itself it is 0). A typical step is the median squared embedding change between
consecutive frames of the dataset, so the thresholds read alike for any world model.

Shapes: ``E`` environments, ``D`` embedding size, ``M`` remembered states.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AgentConfig
from ..cost import goal_cost
from ..data import EpisodeDataset
from ..errors import ConfigError, DataError
from ..world_model import WorldModel

PROGRESS = 0.95  # the goal cost must fall below this share of its best to count as progress


def check_detour_config(a: AgentConfig) -> None:
    if a.detour_patience < 0:
        raise ConfigError(f"agent.detour_patience must be 0 (off) or more, got {a.detour_patience}")
    if a.detour_patience and a.detour_steps < 1:
        raise ConfigError(f"agent.detour_steps must be at least 1, got {a.detour_steps}")
    if a.detour_cost < 0 or a.detour_rest <= 0:
        raise ConfigError(
            f"agent.detour_cost must be >= 0 and agent.detour_rest > 0, got "
            f"{a.detour_cost} and {a.detour_rest}"
        )
    if a.detour_patience and a.detour_bank < 2:
        raise ConfigError(f"agent.detour_bank must be at least 2 frames, got {a.detour_bank}")


class Detours:
    """Per environment: watch for a stall, then aim at a remembered state for a while.

    Args:
        bank: ``(M, D)`` embeddings of remembered states (detour targets).
        step: the typical squared embedding change of one step (the thresholds' unit).
        config: ``detour_patience``, ``detour_steps``, ``detour_cost``, ``detour_rest``.
        seed: of the draw of targets.
    """

    def __init__(self, bank: torch.Tensor, step: float, config: AgentConfig, seed: int = 0) -> None:
        check_detour_config(config)
        if bank.ndim != 2 or len(bank) == 0:
            raise DataError(f"a detour bank must be (M, D) with M >= 1, got {tuple(bank.shape)}")
        if not step > 0:
            raise DataError(f"the typical step must be positive, got {step}")
        self.bank, self.step = bank, float(step)
        self.patience, self.steps = config.detour_patience, config.detour_steps
        self.cost, self.rest = config.detour_cost, config.detour_rest
        self._gen = torch.Generator().manual_seed(seed)
        self.reset(bank[:0])

    @classmethod
    @torch.no_grad()
    def from_dataset(
        cls, model: WorldModel, path: str | Path, config: AgentConfig, seed: int = 0
    ) -> Detours:
        """Bank ``config.detour_bank`` frames of the dataset at ``path``, drawn as pairs of
        consecutive frames: the second of each pair measures the typical step."""
        gen = np.random.default_rng(seed)
        with EpisodeDataset(path) as ds:
            ds.check_compatible(model.obs_shape, model.action_dim)
            first = ds.step_starts(config.detour_bank // 2, gen)
            # pairs may share a frame: read each once, ``pair`` indexes it per pair end
            index, pair = np.unique(np.r_[first, first + 1], return_inverse=True)
            frames = torch.from_numpy(ds.frames(index))
        model.eval()
        z = torch.cat([model.encode(frames[i : i + 256]) for i in range(0, len(frames), 256)])
        pair = torch.as_tensor(pair).view(2, -1)
        step = float(goal_cost(z[pair[0]], z[pair[1]]).median())
        return cls(z, step, config, seed)

    def reset(self, z_goal: torch.Tensor) -> None:
        """New tasks with ``(E, D)`` goals: no stall seen, no detour under way."""
        e = len(z_goal)
        self.z_goal = z_goal
        self.target = z_goal.clone()
        self.left = torch.zeros(e, dtype=torch.long)  # decisions of the detour still to go
        self.best = torch.full((e,), float("inf"))
        self.since = torch.zeros(e, dtype=torch.long)  # stalled decisions in a row
        self.taken = torch.zeros(e, dtype=torch.long)  # detours per environment
        self._recent: list[torch.Tensor] = []  # (E, D) embeddings of the last decisions

    def keep(self, mask: torch.Tensor) -> None:
        """Continue with only the environments where the ``(E,)`` bool ``mask`` is true."""
        self.z_goal, self.target = self.z_goal[mask], self.target[mask]
        self.left, self.best = self.left[mask], self.best[mask]
        self.since, self.taken = self.since[mask], self.taken[mask]
        self._recent = [z[mask] for z in self._recent]

    @property
    def away(self) -> torch.Tensor:
        """``(E,)`` bool: on a detour (aiming at a remembered state) since the last
        :meth:`goals`."""
        return self.left > 0

    def goals(self, z: torch.Tensor) -> torch.Tensor:
        """``(E, D)`` embeddings of this decision -> ``(E, D)`` what to plan toward now."""
        self._recent = [*self._recent, z][-3:]
        moved = (
            goal_cost(z, self._recent[0]) / self.step
            if len(self._recent) == 3
            else torch.full((len(z),), float("inf"))
        )
        cost = goal_cost(z, self.z_goal) / self.step
        away = self.left > 0
        self.left = (self.left - 1).clamp_min(0)
        back = away & (self.left == 0)  # the detour ends: aim at the goal, watch afresh
        self.target[back] = self.z_goal[back]
        self.best[back], self.since[back] = float("inf"), 0
        watching = ~away
        progress = (cost < PROGRESS * self.best) | (moved >= self.rest)
        self.best = torch.where(watching & progress, torch.minimum(self.best, cost), self.best)
        self.since = torch.where(watching & ~progress, self.since + 1, 0)
        stalled = watching & (self.since >= self.patience) & (cost > self.cost)
        if stalled.any():
            pick = torch.randint(len(self.bank), (int(stalled.sum()),), generator=self._gen)
            self.target[stalled] = self.bank[pick]
            self.left[stalled] = self.steps
            self.taken += stalled.long()
            self.since[stalled] = 0
        return self.target

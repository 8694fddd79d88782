"""Several world models of one world, trained apart, planning as one.

Each member is a whole world model (its own encoder and predictor, e.g. the same recipe
trained from two seeds). Together they are one model whose embedding is the members'
embeddings side by side, ``(..., D_1 + ... + D_M)``, and whose step moves each part by its
own member. Nothing else changes: a goal cost on that embedding (a squared distance) is
the sum of the members' goal costs, so a plan must look good to every member, and where
one member's prediction error opens a false basin the others rarely open the same one.
That is what limits the Reacher agent near folded goals (BENCHMARKS, session 39: the
predictor's errors are as large as the goal cost's slope there); the members' errors are
independent draws, their sum's relative noise smaller. The episodic memory and detours
measure distances in units of a typical step, so they read the joint embedding alike.

The members must read the same observations and actions. Members with a scene glimpse
(Two-Rooms' keypoint models) read their own scene maps, stacked along channels as the
ensemble's (:meth:`WorldModelEnsemble.scene_map`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import JepalabError
from .jepa import WorldModel


class WorldModelEnsemble(nn.Module):
    """``M`` world models as one: :meth:`encode` concatenates, :meth:`step` splits.

    Implements :class:`~jepalab.protocols.RolloutModel` and the parts of
    :class:`~jepalab.world_model.WorldModel` an agent uses (``encode``, ``scene_map``,
    ``step``, ``rollout``, ``obs_shape``, ``action_dim``, ``embed_dim``)."""

    def __init__(self, members: Sequence[WorldModel]) -> None:
        super().__init__()
        if len(members) < 2:
            raise JepalabError(f"a world-model ensemble needs >= 2 members, got {len(members)}")
        first = members[0]
        for i, m in enumerate(members):
            if (m.obs_shape, m.action_dim) != (first.obs_shape, first.action_dim):
                raise JepalabError(
                    f"member {i} reads observations {m.obs_shape} and actions of dim "
                    f"{m.action_dim}; member 0 reads {first.obs_shape} and {first.action_dim}"
                )
        self.members = nn.ModuleList(members)
        self.obs_shape, self.action_dim = first.obs_shape, first.action_dim
        self.sizes = [m.embed_dim for m in members]
        self.embed_dim = sum(self.sizes)
        # channels of each member's scene map in the ensemble's (0: it reads none)
        self.scene_channels = [m.scene.channels if m.scene is not None else 0 for m in members]

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 images ``(..., H, W, C)`` -> embeddings ``(..., D)``, ``D = sum D_m``."""
        return torch.cat([m.encode(obs) for m in self.members], -1)

    def scene_map(self, obs: torch.Tensor) -> torch.Tensor | None:
        """uint8 ``(E, H, W, C)`` -> the members' scene maps stacked along channels,
        ``(E, C_1 + ... + C_M, h, w)``; None when no member reads a scene."""
        maps = [m.scene_map(obs) for m in self.members if m.scene is not None]
        if not maps:
            return None
        if len({tuple(s.shape[-2:]) for s in maps}) > 1:
            raise JepalabError(
                f"the members' scene maps differ in size ({[tuple(s.shape[-2:]) for s in maps]}); "
                "ensemble members must read the scene at one resolution"
            )
        return torch.cat(maps, 1)

    def _scenes(self, scene: torch.Tensor | None) -> list[torch.Tensor | None]:
        """The ensemble's scene map -> each member's (None for those that read none)."""
        if scene is None:
            return [None] * len(self.members)
        parts = iter(scene.split([c for c in self.scene_channels if c], 1))
        return [next(parts) if c else None for c in self.scene_channels]

    def step(
        self, z: torch.Tensor, a: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One predicted step: ``(N, D), (N, A) -> (N, D)``, each member on its part;
        ``scene`` as in :meth:`rollout`."""
        parts = zip(self.members, z.split(self.sizes, -1), self._scenes(scene), strict=True)
        return torch.cat([m.step(p, a, s) for m, p, s in parts], -1)

    def rollout(
        self, z0: torch.Tensor, actions: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Multi-step latent rollout: ``(N, D), (N, H, A) -> (N, H, D)``; ``scene``
        ``(E, C, h, w)``, :meth:`scene_map` of the start, is shared by every ``N / E``
        consecutive rollouts (as :meth:`WorldModel.rollout
        <jepalab.world_model.WorldModel.rollout>` takes it)."""
        if z0.shape[-1] != self.embed_dim:
            raise JepalabError(
                f"embeddings have dim {z0.shape[-1]} but the ensemble expects {self.embed_dim} "
                f"(its members' {self.sizes} side by side)"
            )
        parts = zip(self.members, z0.split(self.sizes, -1), self._scenes(scene), strict=True)
        return torch.cat([m.rollout(p, actions, s) for m, p, s in parts], -1)

"""The action-conditioned JEPA world model: Enc for perception, Pred for dynamics.

The world model never reconstructs pixels. It encodes observations into embeddings and
predicts the embedding of what comes next; its *energy* is the distance between a
predicted embedding and the encoding of what actually happened.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError
from ..perception import make_encoder
from .predictor import make_predictor


class WorldModel(nn.Module):
    """Encoder + predictor. Implements :class:`~jepalab.protocols.RolloutModel`."""

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        action_dim: int,
        embed_dim: int = 32,
        encoder: str = "cnn",
        channels: tuple[int, ...] = (16, 32, 32),
        pool: int = 2,
        predictor: str = "mlp",
        predictor_hidden: int = 256,
        predictor_layers: int = 2,
    ) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.action_dim = action_dim
        self.embed_dim = embed_dim
        self.encoder = make_encoder(encoder, self.obs_shape, embed_dim, channels, pool)
        self.predictor = make_predictor(
            predictor, embed_dim, action_dim, predictor_hidden, predictor_layers
        )

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 images ``(..., H, W, C)`` -> embeddings ``(..., D)``."""
        lead = obs.shape[:-3]
        return self.encoder(obs.reshape(-1, *obs.shape[-3:])).reshape(*lead, self.embed_dim)

    def step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One predicted step: ``(N, D), (N, A) -> (N, D)``."""
        return self.predictor.step(z, a)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Multi-step latent rollout: ``(N, D), (N, H, A) -> (N, H, D)``."""
        if actions.shape[-1] != self.action_dim:
            raise JepalabError(
                f"actions have dim {actions.shape[-1]} but the model expects {self.action_dim}"
            )
        if z0.shape[-1] != self.embed_dim:
            raise JepalabError(
                f"embeddings have dim {z0.shape[-1]} but the model expects {self.embed_dim}"
            )
        preds, z = [], z0
        for h in range(actions.shape[1]):
            z = self.predictor.step(z, actions[:, h])
            preds.append(z)
        return torch.stack(preds, 1)

    def energy(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Per-step prediction energy on observed sequences (surprise).

        ``obs (B, T, H, W, C)``, ``actions (B, T-1, A)`` -> ``(B, T-1)``: squared distance
        between the embedding predicted from frame 0 and the encoding of each next frame.
        """
        z = self.encode(obs)
        pred = self.rollout(z[:, 0], actions)
        return (pred - z[:, 1:]).pow(2).sum(-1)

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
from ..perception.encoder import KeypointEncoder, to_float_images
from .predictor import make_predictor
from .scene import SceneGlimpse


class WorldModel(nn.Module):
    """Encoder + predictor. Implements :class:`~jepalab.protocols.RolloutModel`.

    With ``scene_channels > 0`` (keypoint encoder only) the predictor also reads a glimpse of
    the static scene around the agent at every step (:mod:`.scene`); rollouts then need the
    ``scene`` of the observation they start from, :meth:`scene_map`.
    """

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
        scene_channels: int = 0,
        frames: int = 1,
    ) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.action_dim = action_dim
        self.embed_dim = embed_dim
        self.encoder = make_encoder(encoder, self.obs_shape, embed_dim, channels, pool, frames)
        self.scene: SceneGlimpse | None = None
        if scene_channels > 0:
            if not isinstance(self.encoder, KeypointEncoder):
                raise JepalabError("the scene glimpse needs the keypoints encoder")
            self.scene = SceneGlimpse(
                self.obs_shape, embed_dim, channels[-1], scene_channels, pool=pool
            )
        cond_dim = action_dim + (self.scene.features if self.scene is not None else 0)
        self.predictor = make_predictor(
            predictor, embed_dim, cond_dim, predictor_hidden, predictor_layers
        )

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 images ``(..., H, W, C)`` -> embeddings ``(..., D)``."""
        lead = obs.shape[:-3]
        return self.encoder(obs.reshape(-1, *obs.shape[-3:])).reshape(*lead, self.embed_dim)

    def encode_keypoints(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``(..., H, W, C)`` -> embeddings ``(..., D)`` and keypoints ``(..., K, 2)``."""
        if not isinstance(self.encoder, KeypointEncoder):
            raise JepalabError("only the keypoints encoder has keypoints")
        lead = obs.shape[:-3]
        kp = self.encoder.keypoints(obs.reshape(-1, *obs.shape[-3:]))
        z = self.encoder.head(kp.flatten(1))
        return z.reshape(*lead, self.embed_dim), kp.reshape(*lead, *kp.shape[1:])

    def scene_map(self, obs: torch.Tensor) -> torch.Tensor | None:
        """uint8 ``(E, H, W, C)`` -> the ``(E, C_s, h, w)`` scene rollouts from ``obs`` read,
        or ``None`` when the model reads no scene."""
        if self.scene is None:
            return None
        return self.scene.scene_map(to_float_images(obs))

    def step(
        self, z: torch.Tensor, a: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One predicted step: ``(N, D), (N, A) -> (N, D)``; ``scene`` as in :meth:`rollout`."""
        if self.scene is not None:
            if scene is None:
                raise JepalabError(
                    "this world model reads the scene: pass scene=model.scene_map(obs) of the "
                    "observation the rollout starts from"
                )
            a = torch.cat([a, self.scene.read(scene, z)], -1)
        return self.predictor.step(z, a)

    def rollout(
        self, z0: torch.Tensor, actions: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Multi-step latent rollout: ``(N, D), (N, H, A) -> (N, H, D)``.

        ``scene`` ``(E, C_s, h, w)`` (models with a scene glimpse only) is shared by every
        ``N / E`` consecutive rollouts, e.g. the candidate plans of one environment.
        """
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
            z = self.step(z, actions[:, h], scene)
            preds.append(z)
        return torch.stack(preds, 1)

    def energy(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Per-step prediction energy on observed sequences (surprise).

        ``obs (B, T, H, W, C)``, ``actions (B, T-1, A)`` -> ``(B, T-1)``: squared distance
        between the embedding predicted from frame 0 and the encoding of each next frame.
        """
        z = self.encode(obs)
        pred = self.rollout(z[:, 0], actions, self.scene_map(obs[:, 0]))
        return (pred - z[:, 1:]).pow(2).sum(-1)

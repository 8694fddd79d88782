"""Video JEPA: from context frames, predict the embedding of the next frame.

Perception encodes every frame into a spatial map of embeddings ``(C, h, w)`` (one vector
per image patch, as V-JEPA's tokens); the predictor sees the last ``context`` maps
stacked and predicts the next map as a residual on the last one. Convolutions keep the
prediction local, which is how physics works: what happens at a place depends on what
was near it a moment ago.

Surprise at frame t is the energy ``||Pred(s_{t-k..t-1}) - Enc(x_t)||^2``: an error map
``(h, w)`` (squared distance per patch) reduced over space by its sum or its maximum.
The first ``context`` frames have no prediction and get surprise 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError
from ..perception.encoder import check_obs_shape, conv_stack, to_float_images

SPATIAL = ("sum", "max")


class MapEncoder(nn.Module):
    """uint8 frames ``(N, H, W, C)`` -> embedding maps ``(N, channels, H/2, W/2)``."""

    def __init__(self, frame_shape: tuple[int, int, int], channels: int) -> None:
        super().__init__()
        self.frame_shape = tuple(frame_shape)
        # The last GELU is dropped: embeddings are unbounded, as the regulariser wants.
        layers = conv_stack(frame_shape[-1], (32, 32, channels), (1, 2, 1), 1)[:-1]
        self.conv = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_obs_shape(frames, self.frame_shape)
        return self.conv(to_float_images(frames))


class VideoJEPA(nn.Module):
    """Encoder + convolutional next-map predictor; surprise in embedding space."""

    target = "embedding"

    def __init__(
        self,
        frame_shape: tuple[int, int, int] = (32, 32, 3),
        channels: int = 32,
        context: int = 4,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        if context < 1:
            raise JepalabError(f"context must be at least 1 frame, got {context}")
        if frame_shape[0] % 2 or frame_shape[1] % 2:
            raise JepalabError(f"frame height and width must be even, got {frame_shape}")
        self.frame_shape, self.context, self.channels = tuple(frame_shape), context, channels
        self.encoder = MapEncoder(frame_shape, channels)
        self.predictor = nn.Sequential(
            nn.Conv2d(context * channels, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, channels, 1),
        )

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> embedding maps ``(B, T, channels, h, w)``."""
        check_obs_shape(frames, self.frame_shape)
        s = self.encoder(frames.flatten(0, 1))
        return s.unflatten(0, frames.shape[:2])

    def predict(self, s: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, T, C, h, w)`` -> predictions of frames ``context..T-1``,
        ``(B, T - context, C, h, w)``."""
        b, t = s.shape[:2]
        k = self.context
        if t <= k:
            raise JepalabError(f"clips need more than {k} frames (the context), got {t}")
        windows = s.unfold(1, k, 1)[:, : t - k]  # (B, T-k, C, h, w, k)
        x = windows.permute(0, 1, 5, 2, 3, 4).flatten(2, 3).flatten(0, 1)
        delta = self.predictor(x).unflatten(0, (b, t - k))
        return s[:, k - 1 : t - 1] + delta

    def error_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> squared prediction error per patch
        ``(B, T - context, h, w)`` for frames ``context..T-1``."""
        s = self.encode(frames)
        return (self.predict(s) - s[:, self.context :]).pow(2).sum(2)

    def energy(self, frames: torch.Tensor, spatial: str = "sum") -> torch.Tensor:
        """Per-frame surprise: uint8 ``(B, T, H, W, C)`` -> ``(B, T)``, 0 in the context.

        ``spatial`` reduces each frame's error map: ``sum`` (total energy) or ``max``
        (the most surprising patch, which a small local event cannot hide in)."""
        if spatial not in SPATIAL:
            raise JepalabError(f"unknown spatial aggregation '{spatial}'; choose from {SPATIAL}")
        e = self.error_maps(frames).flatten(2)
        e = e.sum(2) if spatial == "sum" else e.amax(2)
        return torch.cat([e.new_zeros(e.shape[0], self.context), e], 1)

"""Video JEPA: from context frames, predict the embedding of the next frame.

Perception encodes every frame into a spatial map of embeddings ``(C, h, w)`` (one vector
per image patch, as V-JEPA's tokens); the predictor sees the last ``context`` maps
stacked and predicts the next map as a residual on the last one. Convolutions keep the
prediction local, which is how physics works: what happens at a place depends on what
was near it a moment ago.

Surprise at frame t is the energy ``||Pred(s_{t-k..t-1}) - Enc(x_t)||^2`` summed over the
map; the first ``context`` frames have no prediction and get surprise 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError
from ..perception.encoder import check_obs_shape, conv_stack, to_float_images


class VideoJEPA(nn.Module):
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
        self.frame_shape, self.context, self.channels = tuple(frame_shape), context, channels
        c = frame_shape[-1]
        # The last GELU is dropped: embeddings are unbounded, as the regulariser wants.
        self.encoder = nn.Sequential(*conv_stack(c, (32, 32, channels), (1, 2, 1), 1)[:-1])
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
        b, t = frames.shape[:2]
        s = self.encoder(to_float_images(frames.reshape(-1, *self.frame_shape)))
        return s.reshape(b, t, *s.shape[1:])

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

    def energy(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame surprise: uint8 ``(B, T, H, W, C)`` -> ``(B, T)``, 0 in the context."""
        s = self.encode(frames)
        err = (self.predict(s) - s[:, self.context :]).pow(2).sum((2, 3, 4))
        return torch.cat([err.new_zeros(err.shape[0], self.context), err], 1)

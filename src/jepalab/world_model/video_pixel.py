"""Pixel-space baseline for intuitive physics: the video JEPA's twin that predicts pixels.

Same encoder, same predictor and the same context as :class:`VideoJEPA`; a small decoder
turns the predicted map into the next frame, trained by pixel MSE. Surprise is the pixel
error, so comparing the two measures what predicting embeddings buys over predicting
pixels, everything else equal.
"""

from __future__ import annotations

import torch
from torch import nn

from ..perception.encoder import to_float_images
from .video_jepa import VideoJEPA


class PixelVideoModel(VideoJEPA):
    target = "pixels"

    def __init__(
        self,
        frame_shape: tuple[int, int, int] = (32, 32, 3),
        channels: int = 32,
        context: int = 4,
        hidden: int = 64,
    ) -> None:
        super().__init__(frame_shape, channels, context, hidden)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(channels, 32, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(32, frame_shape[-1], 3, padding=1),
            nn.Sigmoid(),
        )

    def decode(self, maps: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, T, C, h, w)`` -> frames ``(B, T, 3, H, W)`` as floats in [0, 1]."""
        return self.decoder(maps.flatten(0, 1)).unflatten(0, maps.shape[:2])

    def predict_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> predicted frames ``context..T-1``,
        ``(B, T - context, C, H, W)``."""
        return self.decode(self.predict(self.encode(frames)))

    def error_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> squared pixel error ``(B, T - context, H, W)``."""
        actual = to_float_images(frames[:, self.context :])
        return (self.predict_frames(frames) - actual).pow(2).sum(2)

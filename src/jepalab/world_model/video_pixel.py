"""Pixel-space baseline for intuitive physics: the video JEPA's twin that predicts pixels.

Same encoder, same predictor (window or recurrent) and the same context as
:class:`VideoJEPA`; a small decoder turns the predicted change of the map into a change
of pixels, added to the last frame (the JEPA's residual, in pixel space), trained by
pixel MSE. Surprise is the pixel error, so comparing the two measures what predicting
embeddings buys over predicting pixels, everything else equal.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..perception.encoder import to_float_images
from .video_jepa import VideoJEPA
from .video_predictor import Memory


class PixelVideoModel(VideoJEPA):
    target = "pixels"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """:class:`VideoJEPA`'s arguments, so that the twin is the same size by
        construction."""
        super().__init__(*args, **kwargs)
        channels = self.channels
        up = (
            nn.Conv2d(channels, 32, 3, padding=1)
            if self.stride == 1
            else nn.ConvTranspose2d(channels, 32, 4, stride=2, padding=1)
        )
        self.decoder = nn.Sequential(
            up,
            nn.GELU(),
            nn.Conv2d(32, self.frame_shape[-1], 3, padding=1),
        )
        # The decoder starts at zero (predict "no change"); the predictor then needs its
        # usual random last layer, or no gradient would reach either.
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        self.predictor.head.reset_parameters()

    def predict_frames(
        self, frames: torch.Tensor, s: torch.Tensor | None = None, memory: Memory = None
    ) -> tuple[torch.Tensor, Memory]:
        """uint8 ``(B, T, H, W, C)`` -> predicted frames ``context..T-1`` as floats,
        ``(B, T - context, C, H, W)``: the last frame plus the decoded change of the map;
        and the predictor's memory (see :meth:`VideoJEPA.predict`). ``s`` is
        ``encode(frames)`` when the caller has it already."""
        s = self.encode(frames) if s is None else s
        k, t = self.context, frames.shape[1]
        pred, memory = self.predict(s, memory)
        change = pred - s[:, k - 1 : t - 1]
        last = to_float_images(frames[:, k - 1 : t - 1])
        return last + self.decoder(change.flatten(0, 1)).unflatten(0, change.shape[:2]), memory

    def error_maps(
        self, frames: torch.Tensor, memory: Memory = None
    ) -> tuple[torch.Tensor, Memory]:
        """uint8 ``(B, T, H, W, C)`` -> squared pixel error ``(B, T - context, H, W)``, and
        the memory."""
        actual = to_float_images(frames[:, self.context :])
        pred, memory = self.predict_frames(frames, memory=memory)
        return (pred - actual).pow(2).sum(2), memory

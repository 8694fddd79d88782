"""Video JEPA: from the frames so far, predict the embedding of the next frame.

Perception encodes every frame into a spatial map of embeddings ``(C, h, w)`` (one vector
per image patch, as V-JEPA's tokens); a predictor (:mod:`.video_predictor`: a window of
the last ``context`` maps, or a recurrent one that remembers the whole video) predicts the
next map. Convolutions keep the prediction local, which is how physics works: what
happens at a place depends on what was near it a moment ago.

Maps have one vector per pixel (``stride`` 1) or per 2x2 pixel block (``stride`` 2).
Fine maps predict far better (intuitive-physics bench, 2400 steps: pair accuracy 0.70
against 0.62): a body moving a fraction of a patch changes a coarse patch's vector in a
way no warp reproduces, so the residual must redraw it; bodies in free flight, fast ones
most, were the largest surprise of plausible clips.

Surprise at frame t is the energy ``||Pred(s_{<t}) - Enc(x_t)||^2``: an error map
``(h, w)`` (squared distance per patch) reduced over space by its sum, its maximum, or
the maximum of its mean over a ``REGION_PX``-pixel square (``region``: the most
surprising body-sized place, which one patch's noise does not decide). The first
``context`` frames have no prediction and get surprise 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JepalabError
from ..perception.encoder import check_obs_shape, conv_stack, to_float_images
from .video_predictor import Memory, make_predictor

SPATIAL = ("sum", "max", "region")
# The side of the square ``region`` surprise averages over, in frame pixels: about the
# diameter of a body in training (3-6 px). Chosen on validation pairs (intuitive-physics
# bench, seed 2,000,000): 5 and 7 px tie; 3 px gains less over ``max``.
REGION_PX = 5
STRIDES = (1, 2)
KERNELS = (1, 3)  # the map encoder's convolutions


class MapEncoder(nn.Module):
    """uint8 frames ``(N, H, W, C)`` -> embedding maps ``(N, channels, H/stride, W/stride)``.

    ``kernel`` 3: 3x3 convolutions, so each map vector reads the pixels around its patch
    (5x5 at stride 1); 1: each vector reads its own patch alone (its pixel at stride 1, its
    2x2 block at stride 2), so where two bodies touch their vectors do not mix."""

    def __init__(
        self, frame_shape: tuple[int, int, int], channels: int, stride: int = 1, kernel: int = 1
    ) -> None:
        super().__init__()
        if stride not in STRIDES:
            raise JepalabError(f"map stride must be one of {STRIDES}, got {stride}")
        if kernel not in KERNELS:
            raise JepalabError(f"encoder kernel must be one of {KERNELS}, got {kernel}")
        self.frame_shape = tuple(frame_shape)
        c = frame_shape[-1]
        # One patch in, one vector out; or 3x3 convolutions. No GELU after the last layer:
        # embeddings are unbounded, as the regulariser wants.
        if kernel == 1:
            layers = [nn.Conv2d(c, 32, stride, stride), nn.GELU(), nn.Conv2d(32, channels, 1)]
        else:
            widths = (32, channels) if stride == 1 else (32, 32, channels)
            strides = (1, 1) if stride == 1 else (1, 2, 1)
            layers = conv_stack(c, widths, strides, 1)[:-1]
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
        channels: int = 16,
        context: int = 4,
        hidden: int = 48,
        stride: int = 1,
        predictor: str = "recurrent",
        masking: bool = False,
        kernel: int = 1,
    ) -> None:
        super().__init__()
        if context < 1:
            raise JepalabError(f"context must be at least 1 frame, got {context}")
        if frame_shape[0] % 2 or frame_shape[1] % 2:
            raise JepalabError(f"frame height and width must be even, got {frame_shape}")
        self.frame_shape, self.context, self.channels = tuple(frame_shape), context, channels
        self.stride = stride
        self.encoder = MapEncoder(frame_shape, channels, stride, kernel)
        # With an EMA target (V-JEPA), the predictor learns to match the slow encoder's
        # maps, so surprise must be measured against them too; None: the encoder's own.
        self.target_encoder: MapEncoder | None = None
        self.predictor = make_predictor(predictor, channels, context, hidden, stride)
        # V-JEPA's mask token: what the predictor reads where training hides its input
        # (:mod:`.tube_mask`); None when the model is trained without masking.
        self.mask_token = nn.Parameter(torch.zeros(channels)) if masking else None

    def hide(self, s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, T, C, h, w)`` -> the same with the mask token where ``mask (B, T, h,
        w)`` is True."""
        if self.mask_token is None:
            raise JepalabError("this model was built without masking (masking=False)")
        return torch.where(mask[:, :, None], self.mask_token[:, None, None], s)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> embedding maps ``(B, T, channels, h, w)``."""
        check_obs_shape(frames, self.frame_shape)
        s = self.encoder(frames.flatten(0, 1))
        return s.unflatten(0, frames.shape[:2])

    def predict(self, s: torch.Tensor, memory: Memory = None) -> tuple[torch.Tensor, Memory]:
        """Maps ``(B, T, C, h, w)`` -> predictions of frames ``context..T-1``,
        ``(B, T - context, C, h, w)``, and the predictor's memory of maps
        ``0..T-context-1`` (for streaming; ``memory`` is that of the maps before ``s``)."""
        t = s.shape[1]
        if t <= self.context:
            raise JepalabError(f"clips need more than {self.context} frames (the context), got {t}")
        return self.predictor(s, memory)

    def error_maps(
        self, frames: torch.Tensor, memory: Memory = None
    ) -> tuple[torch.Tensor, Memory]:
        """uint8 ``(B, T, H, W, C)`` -> squared prediction error per patch
        ``(B, T - context, h, w)`` for frames ``context..T-1``, and the memory (see
        :meth:`predict`)."""
        s = self.encode(frames)
        actual = s[:, self.context :]
        if self.target_encoder is not None:
            actual = self.target_encoder(frames[:, self.context :].flatten(0, 1))
            actual = actual.unflatten(0, s[:, self.context :].shape[:2])
        pred, memory = self.predict(s, memory)
        return (pred - actual).pow(2).sum(2), memory

    def energy(self, frames: torch.Tensor, spatial: str = "sum") -> torch.Tensor:
        """Per-frame surprise: uint8 ``(B, T, H, W, C)`` -> ``(B, T)``, 0 in the context.

        ``spatial`` reduces each frame's error map: ``sum`` (total energy), ``max`` (the
        most surprising patch, which a small local event cannot hide in) or ``region``
        (the most surprising ``REGION_PX`` square: a body-sized place)."""
        return self.energy_after(None, frames, spatial)[0]

    def energy_after(
        self, memory: Memory, frames: torch.Tensor, spatial: str = "sum"
    ) -> tuple[torch.Tensor, Memory]:
        """:meth:`energy` of ``frames`` that continue a video whose earlier frames
        ``memory`` holds, and the memory of all but the last ``context`` frames: a caller
        streaming a video passes it on with those frames, ahead of the next chunk."""
        e, memory = self.error_maps(frames, memory)
        return self.reduce(e, spatial), memory

    def reduce(self, e: torch.Tensor, spatial: str) -> torch.Tensor:
        """Error maps of frames ``context..`` ``(B, T - context, h, w)`` -> per-frame
        surprise ``(B, T)``, 0 in the context (``spatial`` as in :meth:`energy`)."""
        if spatial not in SPATIAL:
            raise JepalabError(f"unknown spatial aggregation '{spatial}'; choose from {SPATIAL}")
        if spatial == "region":
            # Error maps are at the map's resolution (JEPA) or the frame's (pixel twin).
            w = max(1, round(REGION_PX * e.shape[-1] / self.frame_shape[1]))
            e = F.avg_pool2d(e, w, stride=1, padding=w // 2, count_include_pad=False)
        e = e.flatten(2)
        e = e.sum(2) if spatial == "sum" else e.amax(2)
        return torch.cat([e.new_zeros(e.shape[0], self.context), e], 1)

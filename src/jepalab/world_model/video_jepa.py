"""Video JEPA: from context frames, predict the embedding of the next frame.

Perception encodes every frame into a spatial map of embeddings ``(C, h, w)`` (one vector
per image patch, as V-JEPA's tokens); the predictor sees the last ``context`` maps
stacked and predicts the next map. Convolutions keep the prediction local, which is how
physics works: what happens at a place depends on what was near it a moment ago.

The predictor says *where each patch's content comes from* (a displacement field, used to
warp the last map) and *what changes in place* (a residual): most of what happens between
two frames is things moving, and moving content by a field is one small job for a
convolution, where redrawing it at a new place is a hard one.

Maps have one vector per pixel (``stride`` 1) or per 2x2 pixel block (``stride`` 2).
Fine maps predict far better (intuitive-physics bench, 2400 steps: pair accuracy 0.70
against 0.62): a body moving a fraction of a patch changes a coarse patch's vector in a
way no warp reproduces, so the residual must redraw it; bodies in free flight, fast ones
most, were the largest surprise of plausible clips. At stride 1 the predictor thinks at
half resolution (a strided first layer) and draws at full resolution (a transposed last
layer), so its cost stays that of the coarse map's.

Surprise at frame t is the energy ``||Pred(s_{t-k..t-1}) - Enc(x_t)||^2``: an error map
``(h, w)`` (squared distance per patch) reduced over space by its sum or its maximum.
The first ``context`` frames have no prediction and get surprise 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JepalabError
from ..perception.encoder import check_obs_shape, conv_stack, to_float_images

SPATIAL = ("sum", "max")
STRIDES = (1, 2)


class MapEncoder(nn.Module):
    """uint8 frames ``(N, H, W, C)`` -> embedding maps ``(N, channels, H/stride, W/stride)``."""

    def __init__(self, frame_shape: tuple[int, int, int], channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in STRIDES:
            raise JepalabError(f"map stride must be one of {STRIDES}, got {stride}")
        self.frame_shape = tuple(frame_shape)
        widths, strides = {1: ((32, channels), (1, 1)), 2: ((32, 32, channels), (1, 2, 1))}[stride]
        # The last GELU is dropped: embeddings are unbounded, as the regulariser wants.
        layers = conv_stack(frame_shape[-1], widths, strides, 1)[:-1]
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
        hidden: int = 64,
        stride: int = 1,
    ) -> None:
        super().__init__()
        if context < 1:
            raise JepalabError(f"context must be at least 1 frame, got {context}")
        if frame_shape[0] % 2 or frame_shape[1] % 2:
            raise JepalabError(f"frame height and width must be even, got {frame_shape}")
        self.frame_shape, self.context, self.channels = tuple(frame_shape), context, channels
        self.stride = stride
        self.encoder = MapEncoder(frame_shape, channels, stride)
        # With an EMA target (V-JEPA), the predictor learns to match the slow encoder's
        # maps, so surprise must be measured against them too; None: the encoder's own.
        self.target_encoder: MapEncoder | None = None
        # Output: residual (channels) + displacement (2), per map position.
        if stride == 1:  # think at half resolution, draw at full resolution
            first = nn.Conv2d(context * channels, hidden, 4, stride=2, padding=1)
            last: nn.Module = nn.ConvTranspose2d(hidden, channels + 2, 4, stride=2, padding=1)
        else:
            first = nn.Conv2d(context * channels, hidden, 3, padding=1)
            last = nn.Conv2d(hidden, channels + 2, 1)
        self.predictor = nn.Sequential(
            first,
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.GELU(),
            last,
        )
        # Start as "the next map is the last one": the easy half of the job, so training
        # spends itself on motion instead of first unlearning random residuals.
        nn.init.zeros_(self.predictor[-1].weight)
        nn.init.zeros_(self.predictor[-1].bias)

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
        out = self.predictor(x)
        delta, flow = out[:, :-2], out[:, -2:]  # flow in map positions, (x, y)
        last = s[:, k - 1 : t - 1].flatten(0, 1)
        warped = F.grid_sample(last, self._grid(flow), padding_mode="border", align_corners=True)
        return (warped + delta).unflatten(0, (b, t - k))

    def _grid(self, flow: torch.Tensor) -> torch.Tensor:
        """Displacements ``(N, 2, h, w)`` in patches -> sampling grid ``(N, h, w, 2)`` in
        [-1, 1]: each patch reads the last map at its own place minus the displacement."""
        h, w = flow.shape[-2:]
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij"
        )
        gx = (xs - flow[:, 0]) * (2 / max(w - 1, 1)) - 1
        gy = (ys - flow[:, 1]) * (2 / max(h - 1, 1)) - 1
        return torch.stack([gx, gy], -1)

    def error_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, C)`` -> squared prediction error per patch
        ``(B, T - context, h, w)`` for frames ``context..T-1``."""
        s = self.encode(frames)
        actual = s[:, self.context :]
        if self.target_encoder is not None:
            actual = self.target_encoder(frames[:, self.context :].flatten(0, 1))
            actual = actual.unflatten(0, s[:, self.context :].shape[:2])
        return (self.predict(s) - actual).pow(2).sum(2)

    def energy(self, frames: torch.Tensor, spatial: str = "sum") -> torch.Tensor:
        """Per-frame surprise: uint8 ``(B, T, H, W, C)`` -> ``(B, T)``, 0 in the context.

        ``spatial`` reduces each frame's error map: ``sum`` (total energy) or ``max``
        (the most surprising patch, which a small local event cannot hide in)."""
        if spatial not in SPATIAL:
            raise JepalabError(f"unknown spatial aggregation '{spatial}'; choose from {SPATIAL}")
        e = self.error_maps(frames).flatten(2)
        e = e.sum(2) if spatial == "sum" else e.amax(2)
        return torch.cat([e.new_zeros(e.shape[0], self.context), e], 1)

"""Perception: observation x -> state embedding s = Enc(x).

Three encoders behind one factory, all small enough to train on a CPU:

* ``keypoints`` (default): convolutions, then a spatial soft-argmax per channel (Levine
  et al. 2016, "deep spatial autoencoders"): each channel becomes the expected (x, y) of
  its activation. Positions of things in the image come out *linearly*, so distances in
  embedding space follow distances in the world, which is what a planner minimising a
  distance wants; a plain CNN learns the same far more slowly.
* ``cnn``: strided convolutions with coordinate channels (CoordConv) and a linear head.
* ``cnn-map``: the same convolutions; the embedding is the last feature map itself,
  squeezed by a 1x1 convolution, so each number describes one place in the picture.

Observations of ``frames > 1`` pictures stacked on the channel axis (a world whose state
includes speed, e.g. the MuJoCo Reacher) are encoded a picture at a time by one shared
encoder, :class:`StackedFrames`: the embedding is the last picture's and its change since
the one before, so speed is in it by construction instead of left for the convolutions to
discover.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError


def to_float_images(obs: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., H, W, C)`` images -> float ``(..., C, H, W)`` in [0, 1]."""
    if obs.dtype != torch.uint8:
        raise JepalabError(f"observations must be uint8 images, got dtype {obs.dtype}")
    return obs.movedim(-1, -3).float().div_(255.0)


def check_obs_shape(obs: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(obs.shape[-3:]) != expected:
        raise JepalabError(
            f"observations have shape {tuple(obs.shape[-3:])} but the encoder expects "
            f"{expected} (H, W, C)"
        )


def conv_stack(in_ch: int, channels: tuple[int, ...], strides: tuple[int, ...], pool: int):
    """``[AvgPool] + (3x3 conv, GELU) per entry of channels``.

    ``pool`` first averages ``pool x pool`` pixel blocks: a blurred dot still tells its
    sub-pixel position through its intensities, and every later layer costs ``pool^2``
    less, which is what makes CPU training fast.
    """
    layers: list[nn.Module] = [nn.AvgPool2d(pool)] if pool > 1 else []
    for out_ch, stride in zip(channels, strides, strict=True):
        layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), nn.GELU()]
        in_ch = out_ch
    return layers


class CNNEncoder(nn.Module):
    """Pooling, strided 3x3 convolutions, linear head. ``(N, H, W, C)`` uint8 -> ``(N, D)``."""

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        embed_dim: int = 32,
        channels: tuple[int, ...] = (16, 32, 32),
        pool: int = 2,
        coord_channels: bool = True,
    ) -> None:
        super().__init__()
        h, w, c = obs_shape
        self.obs_shape = tuple(obs_shape)
        self.coord_channels = coord_channels
        in_ch = c + (2 if coord_channels else 0)
        self.conv = nn.Sequential(*conv_stack(in_ch, channels, (2,) * len(channels), pool))
        with torch.no_grad():
            fmap = self.conv(torch.zeros(1, c + 2 * coord_channels, h, w))
        self.head = self.make_head(tuple(fmap.shape[1:]), embed_dim)
        if coord_channels:
            ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(1, 1, h, w)
            xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(1, 1, h, w)
            self.register_buffer("coords", torch.cat([xs, ys], 1), persistent=False)

    def make_head(self, fmap: tuple[int, int, int], embed_dim: int) -> nn.Module:
        """The layer from the last feature map ``(C, h, w)`` to the embedding."""
        c, h, w = fmap
        return nn.Linear(c * h * w, embed_dim)

    def embed(self, fmap: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` -> ``(N, D)``."""
        return self.head(fmap.flatten(1))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.obs_shape)
        x = to_float_images(obs)
        if self.coord_channels:
            x = torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], 1)
        return self.embed(self.conv(x))


class CNNMapEncoder(CNNEncoder):
    """:class:`CNNEncoder` whose embedding is its last feature map, squeezed to ``k``
    channels by a 1x1 convolution and flattened: ``(N, H, W, C)`` uint8 -> ``(N, D)``,
    ``D = k h w`` (as DINO-WM plans on patch features, not one vector per picture).

    Each number then describes one place in the picture (its receptive field), where a
    linear head over the whole map may mix places. On the Reacher that alone did not keep
    a folded arm's look-alike far away in embedding (BENCHMARKS, Reacher, session 27).
    """

    def make_head(self, fmap: tuple[int, int, int], embed_dim: int) -> nn.Module:
        c, h, w = fmap
        if embed_dim % (h * w):
            raise JepalabError(
                f"the cnn-map encoder's embedding is its {h}x{w} feature map: embed_dim "
                f"(per picture) must be a multiple of {h * w}, got {embed_dim}"
            )
        return nn.Conv2d(c, embed_dim // (h * w), 1)

    def embed(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap).flatten(1)


class KeypointEncoder(nn.Module):
    """Convolutions + spatial soft-argmax + linear head. ``(N, H, W, C)`` uint8 -> ``(N, D)``.

    ``channels[-1]`` is the number of keypoints K; the head maps their ``2K`` coordinates
    to the embedding; ``pool`` is as in :func:`conv_stack`.
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        embed_dim: int = 32,
        channels: tuple[int, ...] = (16, 16, 16),
        pool: int = 2,
    ) -> None:
        super().__init__()
        h, w, c = obs_shape
        self.obs_shape = tuple(obs_shape)
        # One downsampling (the second layer): keypoints on a (H / 2 pool)^2 grid.
        strides = tuple(2 if i == 1 else 1 for i in range(len(channels)))
        layers = conv_stack(c, channels, strides, pool)
        self.conv = nn.Sequential(*layers[:-1])  # raw scores into the soft-argmax
        in_ch = channels[-1]
        self.log_temp = nn.Parameter(torch.zeros(()))
        with torch.no_grad():
            fh, fw = self.conv(torch.zeros(1, c, h, w)).shape[-2:]
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, fh), torch.linspace(-1, 1, fw), indexing="ij")
        # (fh fw, 2) the (x, y) of every score: the soft-argmax weighs them
        self.register_buffer("grid", torch.stack([xs, ys], -1).flatten(0, 1), persistent=False)
        self.head = nn.Linear(2 * in_ch, embed_dim)

    def keypoints(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, C)`` uint8 -> ``(N, K, 2)`` expected (x, y) in [-1, 1] per channel."""
        f = self.conv(to_float_images(obs)).flatten(2)  # (N, K, fh fw)
        p = torch.softmax(f / self.log_temp.exp(), -1)
        # a weighted sum, not a matrix product: under bf16 autocast it stays in float32
        return (p[..., None] * self.grid).sum(-2)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.obs_shape)
        return self.head(self.keypoints(obs).flatten(1))


class StackedFrames(nn.Module):
    """``k`` pictures stacked on the channel axis, each encoded by one shared ``frame``
    encoder: ``(N, H, W, k C) -> (N, D)``, ``D = k d``, as ``[e_k, e_k - e_(k-1), ...,
    e_2 - e_1]`` for the pictures' embeddings ``e_1 .. e_k`` of size ``d`` each."""

    def __init__(self, frame: nn.Module, frames: int) -> None:
        super().__init__()
        self.frame, self.frames = frame, frames
        h, w, c = frame.obs_shape
        self.obs_shape = (h, w, c * frames)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_obs_shape(obs, self.obs_shape)
        n, (h, w, c) = obs.shape[0], self.frame.obs_shape
        pictures = obs.reshape(n, h, w, self.frames, c).movedim(3, 1).reshape(-1, h, w, c)
        e = self.frame(pictures).unflatten(0, (n, self.frames))  # (N, k, d)
        return torch.cat([e[:, -1], *(e[:, 1:] - e[:, :-1]).flip(1).unbind(1)], -1)


ENCODERS = {"keypoints": KeypointEncoder, "cnn": CNNEncoder, "cnn-map": CNNMapEncoder}


def make_encoder(
    name: str,
    obs_shape: tuple[int, int, int],
    embed_dim: int,
    channels: tuple[int, ...],
    pool: int = 2,
    frames: int = 1,
) -> nn.Module:
    """The encoder ``name``; with ``frames > 1``, :class:`StackedFrames` of it."""
    if name not in ENCODERS:
        raise JepalabError(f"unknown encoder '{name}'; choose one of {sorted(ENCODERS)}")
    if frames == 1:
        return ENCODERS[name](obs_shape, embed_dim=embed_dim, channels=channels, pool=pool)
    h, w, c = obs_shape
    if frames < 1 or c % frames or embed_dim % frames:
        raise JepalabError(
            f"model.frames {frames} must divide the observations' {c} channels and "
            f"embed_dim {embed_dim}"
        )
    frame = ENCODERS[name]((h, w, c // frames), embed_dim // frames, channels, pool)
    return StackedFrames(frame, frames)

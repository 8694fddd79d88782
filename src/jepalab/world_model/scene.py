"""What the predictor sees of the scene: a local glimpse of the walls around the agent.

A vector embedding can say *where* the agent is very precisely, but the rule that decides
what happens next (is there a wall right there, or the door?) is local: it depends on the
few pixels around the agent, wherever they are. An MLP predictor asked to recover that rule
from a global code of the layout learns it slowly and imprecisely, and a planner then
exploits every mistake (it walks into the wall it believes is a door). So the predictor
also gets a *glimpse*: a small grid of scene features read around where the agent is.

* The **scene map** ``(E, C, h, w)`` is a small convolution of the observation. The scene
  is assumed static over a rollout (walls do not move), so it is computed once, from the
  observation a rollout starts from, and read at every predicted step.
* **Where to look** comes from the embedding itself: a linear *locator* reads the positions
  of the ``G`` keypoints that move the most (the agent, in these worlds) from ``z``. It is
  trained to match those keypoints of the encoder, so it also works on *predicted*
  embeddings, where there is no image to find keypoints in.
* The glimpse is ``P x P`` bilinear samples ``spacing_px`` apart around each location.

Shapes: ``N`` rollouts, ``E`` scenes (every ``N / E`` consecutive rollouts share one scene:
the candidates of one environment), ``K`` keypoints, ``G`` glimpses, ``D`` embedding size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..errors import JepalabError

# How fast the per-keypoint motion statistic forgets (it picks which keypoints to track).
_MOTION_MOMENTUM = 0.99


def glimpse_offsets(
    obs_shape: tuple[int, int, int], points: int, spacing_px: float
) -> torch.Tensor:
    """``(P * P, 2)`` offsets of a ``P x P`` grid ``spacing_px`` apart, in the normalised
    [-1, 1] image coordinates (x, y) that :func:`torch.nn.functional.grid_sample` reads."""
    h, w = obs_shape[0], obs_shape[1]
    step = torch.tensor([2 * spacing_px / (w - 1), 2 * spacing_px / (h - 1)])
    r = torch.arange(points, dtype=torch.float32) - (points - 1) / 2
    grid = torch.stack(torch.meshgrid(r, r, indexing="xy"), -1).reshape(-1, 2)
    return grid * step


def map_steps(
    fn: Callable[..., torch.Tensor], scene: torch.Tensor | None, *steps: torch.Tensor
) -> torch.Tensor:
    """Apply ``fn(*inputs, scene)`` to every step of ``N`` rollouts in one batch.

    Each ``(N, H, ...)`` input is flattened to ``(N * H, ...)`` in an order in which every
    ``N / E`` consecutive rows still share one of the ``E`` scenes (which ``fn`` gets
    repeated ``H`` times, as :meth:`SceneGlimpse.read` wants them; ``None`` stays ``None``);
    ``fn``'s ``(N * H,)`` answer comes back as ``(N, H)``.
    """
    n, h = steps[0].shape[:2]
    if scene is None:
        return fn(*(x.reshape(n * h, *x.shape[2:]) for x in steps), None).view(n, h)
    e = len(scene)
    flat = [
        x.reshape(e, n // e, h, *x.shape[2:]).transpose(1, 2).reshape(n * h, *x.shape[2:])
        for x in steps
    ]
    out = fn(*flat, scene.repeat_interleave(h, 0))
    return out.view(e, h, n // e).transpose(1, 2).reshape(n, h)


class SceneGlimpse(nn.Module):
    """Scene map + locator + glimpse reader.

    Args:
        obs_shape: ``(H, W, C)`` of observations.
        embed_dim: ``D``.
        keypoints: ``K``, the number of encoder keypoints the locator may track.
        channels: ``C`` scene channels.
        glimpses: ``G`` locations read per step.
        points: ``P``, the glimpse is a ``P x P`` grid.
        spacing_px: distance between glimpse samples, in image pixels.
        pool: average-pool the image by this factor first (as the encoder does).
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        embed_dim: int,
        keypoints: int,
        channels: int = 4,
        glimpses: int = 2,
        points: int = 3,
        spacing_px: float = 3.0,
        pool: int = 2,
    ) -> None:
        super().__init__()
        if glimpses > keypoints:
            raise JepalabError(f"glimpses ({glimpses}) cannot exceed keypoints ({keypoints})")
        c = obs_shape[2]
        self.glimpses, self.points, self.channels = glimpses, points, channels
        self.conv = nn.Sequential(
            *([nn.AvgPool2d(pool)] if pool > 1 else []),
            nn.Conv2d(c, channels, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.locator = nn.Linear(embed_dim, 2 * glimpses)
        self.register_buffer("offsets", glimpse_offsets(obs_shape, points, spacing_px))
        # Running mean of each keypoint's per-step motion; the G largest are tracked.
        self.register_buffer("motion", torch.zeros(keypoints))

    @property
    def features(self) -> int:
        """Size of :meth:`read`'s output per rollout: ``G * P * P * C``."""
        return self.glimpses * self.points**2 * self.channels

    def scene_map(self, images: torch.Tensor) -> torch.Tensor:
        """Float images ``(E, C_img, H, W)`` in [0, 1] -> scene map ``(E, C, h, w)``."""
        return self.conv(images)

    def locate(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> ``(N, G, 2)`` tracked keypoint positions, (x, y) in [-1, 1]."""
        return self.locator(z).view(z.shape[0], self.glimpses, 2)

    def read(
        self, scene: torch.Tensor, z: torch.Tensor, offsets: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Glimpse features ``(N, G * P' * C)`` of ``(E, C, h, w)`` scenes at ``(N, D)``.

        ``offsets`` ``(P', 2)`` (see :func:`glimpse_offsets`) replaces the module's own
        ``P x P`` grid, e.g. for a wider look with the same map and locator."""
        num, envs = z.shape[0], scene.shape[0]
        if envs == 0 or num % envs:
            raise JepalabError(f"{num} rollouts cannot share {envs} scenes evenly")
        offsets = self.offsets if offsets is None else offsets
        pts = self.locate(z)[:, :, None] + offsets  # (N, G, P', 2)
        grid = pts.reshape(envs, -1, 1, 2)  # rollouts of one scene side by side
        out = F.grid_sample(scene, grid, mode="bilinear", padding_mode="border", align_corners=True)
        # (E, C, N/E * G * P', 1) -> (N, G * P' * C)
        return out.view(envs, self.channels, num // envs, -1).permute(0, 2, 3, 1).reshape(num, -1)

    def tracked(self) -> torch.Tensor:
        """Indices ``(G,)`` of the keypoints the locator follows: those that move the most."""
        return self.motion.topk(self.glimpses).indices

    def locator_loss(self, z: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """Teach the locator, and update which keypoints it tracks.

        Args:
            z: ``(B, T, D)`` embeddings of windows of consecutive frames.
            keypoints: ``(B, T, K, 2)`` the encoder's keypoints of the same frames.
        """
        kp = keypoints.detach()
        if self.training:
            step_motion = kp.diff(dim=1).norm(dim=-1).mean(dim=(0, 1))  # (K,)
            if dist.is_available() and dist.is_initialized():  # the same choice on every rank
                dist.all_reduce(step_motion)
                step_motion /= dist.get_world_size()
            self.motion.lerp_(step_motion, 1 - _MOTION_MOMENTUM)
        target = kp[:, :, self.tracked()]  # (B, T, G, 2)
        return (self.locate(z.flatten(0, 1)) - target.flatten(0, 1)).pow(2).mean()

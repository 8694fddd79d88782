"""Time-contrastive auxiliary loss: the next frame is nearer than any other frame.

Prediction and an anti-collapse term leave the embedding free to put two pictures close
when they look alike, however far apart they are in the world: on the Reacher a folded
arm and its "swapped V" (elbow where the fingertip was, fingertip where the elbow was) lie
closer than an arm 3 cm off for most folded goals (in raw pixels they are about as far;
BENCHMARKS, Reacher, session 27), and a planner minimising embedding distance settles in
the wrong one. This term asks, through the encoder, that each frame's embedding be nearer
its successor than the embeddings of other frames (InfoNCE, as in time-contrastive
networks and CPC, on the planner's own squared distance), so that pictures that are far
apart in time are pushed apart wherever they are confused.

Negatives are the batch's other windows and a queue of recent embeddings (MoCo): many
negatives, so that rare look-alikes meet each other often enough to be told apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .queue import resize_queues


class TimeContrast(nn.Module):
    """``z (B, T, D) -> loss``: InfoNCE with logits ``-|z_t - c|^2 / temperature`` over
    candidates ``c``: the frame's successor ``z_t+1`` (the positive), every other window's
    frames ``t+1`` and the queue (``queue`` embeddings, detached). The queue is in the
    state dict, at whatever length it has reached, so a resumed run goes on with it.
    """

    def __init__(self, embed_dim: int, temperature: float = 1.0, queue: int = 4096) -> None:
        super().__init__()
        self.temperature = temperature
        self.size = queue
        self.register_buffer("queue", torch.empty(0, embed_dim))
        self.register_load_state_dict_pre_hook(resize_queues("queue"))

    def forward(self, z: torch.Tensor, enqueue: torch.Tensor | None = None) -> torch.Tensor:
        """``z (B, T, D)`` this rank's windows; ``enqueue (N, T, D)`` the embeddings to
        queue (under data parallelism every rank's, so that queues stay alike; default
        ``z``)."""
        b, t = z.shape[0], z.shape[1] - 1
        anchors, nexts = z[:, :-1].flatten(0, 1), z[:, 1:].flatten(0, 1)  # (B t, D)
        dist = torch.cdist(anchors, nexts).square()  # (B t, B t); the positive on the diagonal
        # A window's own other frames are neither positive nor negative: they are near in time.
        window = torch.arange(b, device=z.device).repeat_interleave(t)
        itself = torch.eye(b * t, dtype=torch.bool, device=z.device)
        dist = dist.masked_fill((window[:, None] == window[None, :]) & ~itself, float("inf"))
        if len(self.queue):
            dist = torch.cat([dist, torch.cdist(anchors, self.queue).square()], 1)
        loss = F.cross_entropy(-dist / self.temperature, torch.arange(b * t, device=z.device))
        self._enqueue((z if enqueue is None else enqueue).detach().flatten(0, 1))
        return loss

    @torch.no_grad()
    def _enqueue(self, z: torch.Tensor) -> None:
        # A quarter of the frames: consecutive ones are near-duplicates.
        self.queue = torch.cat([z[::4], self.queue])[: self.size]

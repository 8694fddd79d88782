"""Pixel-neighbourhood auxiliary loss: what looks alike up close lies near in embedding.

Prediction and an anti-collapse term leave the embedding free to put two pictures close
when a coarse look says they are alike. On the Reacher a folded arm and its "swapped V"
(elbow where the fingertip was, fingertip where the elbow was) draw nearly the same
triangle, and the JEPA's embedding puts them closer than an arm 3 cm off for 17 of 20
folded goals: a planner minimising embedding distance settles in the wrong one
(BENCHMARKS, Reacher, sessions 25-27). Pictures blurred a little (a Gaussian of 2 px, then
2 x 2 means) tell them apart for 18 of 20: the blur makes a 3 cm miss overlap the goal's
links, where the swapped V moves a whole link; raw pixels stop counting once two links
no longer overlap, and heavier blur merges the triangle again (session 30).

This term hands that local order to the encoder, as parametric neighbourhood embedding
does (SNE, Hinton and Roweis 2002; parametric t-SNE, van der Maaten 2009): for each anchor
frame, a target distribution over candidate frames ``P ~ exp(-p / tau_p)`` from squared
distances ``p`` of the blurred pictures, and the embedding's ``Q ~ exp(-e / tau_e)`` from
squared embedding distances ``e``; the loss is ``KL(P || Q)``, zero where the two agree.
Both temperatures are each anchor's distance to its ``neighbours``-th nearest candidate, so
the mass sits on a handful of true neighbours and the term is blind to the embedding's
scale: it orders neighbours, it cannot be paid by shrinking or spreading the embedding,
and distances beyond the neighbourhood are left to prediction. Only the last picture of a
stacked observation is compared (its speed is the predictor's business).

Anchors are each window's first and last frames; candidates every frame of the batch and
a queue of recent frames (embeddings detached, pictures blurred), so that rare look-alikes
meet.

Off by default. On the Reacher (weight 1) it made the swapped V deeper than a near miss
for 7 of 20 folded goals instead of 17, and the bench fell from 0.745 to 0.595: the
folded arms still settle with the elbow bent the other way (BENCHMARKS, session 30).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..perception.encoder import to_float_images
from .queue import resize_queues

FAR = 1e9  # squared distance that keeps an anchor from choosing itself


def blur_matrix(size: int, sigma: float) -> torch.Tensor:
    """``(size // 2, size)``: a 1-D Gaussian blur of ``sigma`` pixels (zero padded), then
    means of pixel pairs. ``A @ x @ B.T`` applies it to both axes of ``x (.., H, W)``."""
    radius = int(3 * sigma) + 1
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    eye = torch.eye(size).view(size, 1, size)
    rows = F.conv1d(eye, (kernel / kernel.sum()).view(1, 1, -1), padding=radius)
    return F.avg_pool1d(rows, 2).squeeze(1).T.contiguous()


class PixelNeighbours(nn.Module):
    """``z (B, T, D)``, ``pictures (B, T, P)`` -> loss. :meth:`pictures` makes the second
    from observations ``(B, T, H, W, C)`` of ``frames`` stacked pictures. The queue
    (``queue`` frames) is in the state dict, as :class:`~jepalab.world_model.TimeContrast`'s
    is: 2048 blurred 64x64 pictures add 25 MB to a checkpoint. Under data parallelism rank
    0 saves its own queue, and a resume gives it to every rank."""

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        frames: int = 1,
        neighbours: int = 10,
        blur: float = 2.0,
        queue: int = 2048,
    ) -> None:
        super().__init__()
        h, w, c = obs_shape
        self.channels = c // frames
        self.neighbours, self.size = neighbours, queue
        self.register_buffer("rows", blur_matrix(h, blur), persistent=False)
        self.register_buffer("cols", blur_matrix(w, blur), persistent=False)
        self.register_buffer("queue_z", torch.empty(0))
        self.register_buffer("queue_p", torch.empty(0))
        self.register_load_state_dict_pre_hook(resize_queues("queue_z", "queue_p"))

    @torch.no_grad()
    def pictures(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 ``(..., H, W, C)`` -> the last picture blurred ``(..., P)``,
        ``P = C' (H // 2) (W // 2)``."""
        last = to_float_images(obs[..., -self.channels :])  # (..., C', H, W)
        return (self.rows @ last @ self.cols.T).flatten(-3)

    def forward(self, z: torch.Tensor, pictures: torch.Tensor) -> torch.Tensor:
        """``z (B, T, D)`` and ``pictures (B, T, P)``. Under data parallelism each rank
        passes its own windows and keeps its own queue: the ranks' weights stay identical
        (gradients are averaged), and each anchor meets ``1 / W`` of the batch's frames as
        candidates where one process would offer all of them."""
        b, t = z.shape[:2]
        cand_z, cand_p = z.flatten(0, 1), pictures.flatten(0, 1)
        fresh = cand_z.detach(), cand_p  # queued after this batch's loss
        if len(self.queue_z):
            cand_z, cand_p = torch.cat([cand_z, self.queue_z]), torch.cat([cand_p, self.queue_p])
        ends = torch.tensor([0, t - 1], device=z.device)
        anchor_z, anchor_p = z[:, ends].flatten(0, 1), pictures[:, ends].flatten(0, 1)
        itself = (torch.arange(b, device=z.device)[:, None] * t + ends).flatten()
        anchors = torch.arange(2 * b, device=z.device)
        p = torch.cdist(anchor_p, cand_p).square()
        e = torch.cdist(anchor_z, cand_z).square()
        p[anchors, itself] = FAR
        e = e.index_put((anchors, itself), torch.tensor(FAR, device=z.device))
        k = min(self.neighbours, len(cand_z) - 1)
        tau_p = p.kthvalue(k, 1, keepdim=True).values.clamp_min(1e-6)
        tau_e = e.detach().kthvalue(k, 1, keepdim=True).values.clamp_min(1e-6)
        log_p, log_q = F.log_softmax(-p / tau_p, 1), F.log_softmax(-e / tau_e, 1)
        loss = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
        self._enqueue(*fresh)
        return loss

    @torch.no_grad()
    def _enqueue(self, z: torch.Tensor, pictures: torch.Tensor) -> None:
        # Every other frame: consecutive ones are near-duplicates.
        if len(self.queue_z) == 0:
            self.queue_z, self.queue_p = z[:0], pictures[:0]
        self.queue_z = torch.cat([z[::2], self.queue_z])[: self.size]
        self.queue_p = torch.cat([pictures[::2], self.queue_p])[: self.size]

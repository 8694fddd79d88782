"""Can slots with explicit positions find, follow and predict the physics world's bodies,
learned from frames alone in minutes on 2 CPU cores?

Sessions 18-48 found that the video JEPA's map predictor forgets a body hidden behind the
screen (vanish behind the screen stays at 0.01-0.09) and mispredicts bounces and
collisions; session 44's hand-written object tracker was the only change that moved the
first, and session 46's privileged masking put the second at up to 0.96 pair accuracy. The
lead both named is learned per-object state. This experiment (session 49) is its first
step, a feasibility check with no labels used in training:

1. **discovery**: Invariant Slot Attention (Biza et al. 2023): ``K`` slots, each a feature
   vector with an explicit position and scale, attend over the frame (keys and values
   carry each pixel's position relative to the slot) and decode it again (a spatial
   broadcast decoder, positions relative to the slot, slots mixed by a softmax over
   their alphas). Trained on single frames to reconstruct them.
2. **tracking and prediction** (as SAVi, Kipf et al. 2022, with explicit motion): the
   slots of frame 0 are carried through the clip. Each frame they first *predict*: a
   slot moves by its velocity, changed by a learned acceleration (from its features) and
   learned pairwise kicks (from both slots' features and their relative position and
   velocity); the predicted slots are decoded into the predicted frame. Then they
   *observe*: one attention round on the actual frame, and each slot moves toward what
   it claims in proportion to how much it claims (a learned gain on the attention mass:
   a hidden body claims nothing and coasts). Trained on the predicted and the observed
   frames' reconstruction errors.

Slots attend over, and frames are compared at, a 16 x 16 grid by default (half the
frame's resolution, to fit the budget; ``--side 32``: every pixel). ``--position-loss W``
adds a latent, JEPA-style target: each slot's predicted position against what it then
claims in the frame (squared px, weighted by how far the slot follows what it claims;
no gradient into the attention through either). Scores on validation clips (seed
2,000,000, never trained on) against the simulator's body centres:

- ``discovery``: share of fully seen bodies (90% or more visible) with a slot centre
  within 1.5 px, and the median distance;
- ``tracking``: each predicted slot position (before the frame is seen) against the body
  it stands for (the nearest slot): median error and share within 1.5 px, in free
  flight, in the frame after a contact (a change of velocity of ``BOUNCE`` or more beside
  gravity: bounces, collisions, a body settling on a solid) and while hidden (under 20%
  visible, having been fully seen earlier); beside each, the same for a
  constant-velocity-and-gravity oracle that knows the true centres of the two frames
  before;
- ``pairs``: pair accuracy per violation type of the tracker's next-frame pixel error
  (region maximum, clip maximum, as the bench), on matched pairs (validation seed).

Usage::

    python benchmarks/slot_tracker.py --out slot_tracker.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jepalab.config import VALIDATION_SEED
from jepalab.envs.physics import (
    BOUNCE,
    TRAIN_STYLE,
    plausible_scene,
    render,
    step,
    visible_fraction,
)
from jepalab.envs.violations import make_pairs
from jepalab.eval.surprise import pair_figures
from jepalab.io import atomic_write_text

SLOTS, ITERS = 5, 3
GRAVITY = 0.2  # px per frame², the world's: only the oracle uses it


# ----------------------------------------------------------------------------- data
def clips(n: int, seed: int, frames: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``n`` plausible clips as the bench trains on (half drawn to show a collision, each
    0-8 frames into its scene): frames ``(n, T, 32, 32, 3)`` uint8 and each body's centre
    and visible share ``(n, T, 3, 3)`` (NaN where a scene has fewer bodies)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, frames, 32, 32, 3), np.uint8)
    centres = np.full((n, frames, 3, 3), np.nan, np.float32)
    for i in range(n):
        scene = plausible_scene(rng, frames, TRAIN_STYLE, max_offset=8, collide=0.5)
        for t in range(frames):
            if t:
                step(scene)
            x[i, t] = render(scene)
            for j, b in enumerate(scene.bodies):
                centres[i, t, j] = (b.x, b.y, visible_fraction(scene, b))
    return x, centres


def as_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` -> float ``(..., 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(frames).movedim(-1, -3).float() / 255


def coarse(frames: torch.Tensor, side: int) -> torch.Tensor:
    """``(..., 3, 32, 32)`` -> ``(..., 3, side, side)``."""
    return F.avg_pool2d(frames.flatten(0, -4), 32 // side).unflatten(0, frames.shape[:-3])


def grid(side: int) -> torch.Tensor:
    """Centres of a ``side x side`` grid's cells in slot coordinates (-1 to 1 across the
    frame), ``(side², 2)`` (x, y)."""
    c = (torch.arange(side, dtype=torch.float32) + 0.5) / (side / 2) - 1
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs, ys], -1).flatten(0, 1)


def to_px(p: torch.Tensor) -> np.ndarray:
    return ((p + 1) * 16).numpy()


# ---------------------------------------------------------------------------- model
Slots = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # features, position, scale


class SlotAttention(nn.Module):
    """Invariant Slot Attention: frames -> ``SLOTS`` slots (features ``(B, K, dim)``,
    position and scale ``(B, K, 2)`` each), and slots -> frame. Slots attend over, and
    draw, a ``side x side`` grid (32: every pixel)."""

    def __init__(self, side: int, dim: int) -> None:
        super().__init__()
        self.side, self.dim = side, dim
        self.encoder = nn.Sequential(nn.Conv2d(3, dim, 1), nn.GELU(), nn.Conv2d(dim, dim, 1))
        self.norm = nn.LayerNorm(dim)
        self.key, self.value = nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim, bias=False)
        self.where = nn.Linear(2, dim)  # a pixel's position relative to the slot
        self.mix = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim)
        )
        self.query = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim, bias=False))
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )
        self.start = nn.Parameter(torch.randn(SLOTS, dim) * 0.1)
        self.where_out = nn.Linear(2, dim)
        self.decoder = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 4)
        )

    def attend(self, frame: torch.Tensor, slots: Slots) -> tuple[Slots, torch.Tensor, torch.Tensor]:
        """One attention round: frame ``(B, 3, 32, 32)`` -> updated slots, the position
        and scale of what each slot claims, and its attention mass ``(B, K, 1)``."""
        z, p, s = slots
        c = grid(self.side)
        x = F.avg_pool2d(self.encoder(frame), 32 // self.side).flatten(2).transpose(1, 2)
        x = self.norm(x)  # (B, N, dim)
        rel = self.where((c - p[:, :, None]) / s[:, :, None])  # (B, K, N, dim)
        keys, values = self.mix(self.key(x)[:, None] + rel), self.mix(self.value(x)[:, None] + rel)
        logits = torch.einsum("bkd,bknd->bkn", self.query(z), keys) / math.sqrt(self.dim)
        attn = logits.softmax(1) + 1e-8  # slots compete for each pixel
        mass = attn.sum(2, keepdim=True)
        w = attn / mass
        update = torch.einsum("bkn,bknd->bkd", w, values)
        z = self.gru(update.flatten(0, 1), z.flatten(0, 1)).view_as(z)
        z = z + self.mlp(z)
        claimed = torch.einsum("bkn,nc->bkc", w, c)
        spread = torch.einsum("bkn,bknc->bkc", w, (c - claimed[:, :, None]) ** 2)
        return (z, p, s), claimed, (spread + 1e-4).sqrt().clamp(0.02, 2), mass

    def forward(self, frame: torch.Tensor) -> Slots:
        """Frame ``(B, 3, 32, 32)`` -> slots, from random positions, ``ITERS`` rounds."""
        b = frame.shape[0]
        p = torch.rand(b, SLOTS, 2) * 1.6 - 0.8
        slots = (self.start.expand(b, -1, -1), p, torch.full_like(p, 0.3))
        for _ in range(ITERS):
            (z, _, _), p, s, _ = self.attend(frame, slots)
            slots = (z, p, s)
        return slots

    def decode(self, slots: Slots) -> torch.Tensor:
        """Slots -> frame ``(B, 3, side, side)``."""
        z, p, s = slots
        rel = self.where_out((grid(self.side) - p[:, :, None]) / s[:, :, None])
        out = self.decoder(z[:, :, None] + rel)  # (B, K, N, 4)
        frame = (out[..., 3:].softmax(1) * out[..., :3]).sum(1)
        return frame.transpose(1, 2).unflatten(2, (self.side, self.side))


class SlotTracker(nn.Module):
    """Slot attention carried through a clip: predict each frame from the slots, then
    correct the slots by what the frame shows."""

    def __init__(self, side: int = 16, dim: int = 64) -> None:
        super().__init__()
        self.slots = SlotAttention(side, dim)
        self.motion = nn.Sequential(nn.Linear(dim + 4, dim), nn.GELU(), nn.Linear(dim, dim + 2))
        self.kick = nn.Sequential(nn.Linear(2 * dim + 4, dim), nn.GELU(), nn.Linear(dim, 2))
        self.gain = nn.Linear(1, 1)  # log attention mass -> how far a slot follows it
        for last in (self.motion[-1], self.kick[-1]):  # start as constant velocity
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        nn.init.constant_(self.gain.weight, 2.0)
        nn.init.constant_(self.gain.bias, 2.0)

    def predict(self, slots: Slots, v: torch.Tensor) -> tuple[Slots, torch.Tensor]:
        """Slots and velocities ``(B, K, 2)`` one frame ahead."""
        z, p, s = slots
        out = self.motion(torch.cat([z, v * 8, p], -1))
        dz, accel = out[..., :-2], out[..., -2:] * 0.05
        k = z.shape[1]
        pair = torch.cat(
            [
                z[:, :, None].expand(-1, -1, k, -1),
                z[:, None].expand(-1, k, -1, -1),
                (p[:, :, None] - p[:, None]) * 8,
                (v[:, :, None] - v[:, None]) * 8,
            ],
            -1,
        )
        others = 1 - torch.eye(k)[None, :, :, None]
        kicks = (self.kick(pair) * 0.05 * others).sum(2)
        v = (v + accel + kicks).clamp(-0.3, 0.3)  # about 5 px per frame at most
        return (z + dz, p + v, s), v

    def observe(
        self, frame: torch.Tensor, slots: Slots, v: torch.Tensor
    ) -> tuple[Slots, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slots and velocities corrected by the frame, what each slot claims ``(B, K,
        2)`` and how far it follows it ``(B, K, 1)``."""
        (z, p, s), claimed, spread, mass = self.slots.attend(frame, slots)
        g = torch.sigmoid(self.gain(torch.log(mass + 1e-3)))
        slots = (z, p + g * (claimed - p), s + g * (spread - s))
        return slots, v + g * (claimed - p), claimed, g

    def forward(
        self, clip: torch.Tensor, position_loss: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clip ``(B, T, 3, 32, 32)`` -> predicted and observed frames ``1..T-1``
        ``(B, T-1, 3, side, side)``, predicted slot positions ``(B, T-1, K, 2)`` and the
        position loss (0 unless ``position_loss``): the mean squared px by which the
        slots' motion misses what they then claim, weighted by how far each follows it.
        It trains the motion alone (its inputs and target carry no gradient): through the
        slots it would teach the attention to claim what does not move (session 49: the
        slots left their bodies)."""
        slots = self.slots(clip[:, 0])
        v = torch.zeros_like(slots[1])
        predicted, observed, where = [], [], []
        miss = torch.zeros(())
        for frame in clip[:, 1:].unbind(1):
            before = tuple(x.detach() for x in slots), v.detach()
            slots, v = self.predict(slots, v)
            predicted.append(self.slots.decode(slots))
            where.append(slots[1])
            slots, v, claimed, g = self.observe(frame, slots, v)
            observed.append(self.slots.decode(slots))
            if position_loss:  # the motion again, from inputs without gradient
                moved = self.predict(*before)[0][1]
                miss = miss + (g.detach() * (moved - claimed.detach()) ** 2).sum(-1).mean()
        miss_px = miss / (clip.shape[1] - 1) * 16**2  # slot units -> px
        return (
            torch.stack(predicted, 1),
            torch.stack(observed, 1),
            torch.stack(where, 1),
            miss_px,
        )


# ---------------------------------------------------------------------------- training
def train(
    loss_of: Callable[[np.ndarray], torch.Tensor],
    params: list[nn.Parameter],
    draw: Callable[[np.random.Generator], np.ndarray],
    seconds: float,
    name: str,
) -> int:
    """Adam (lr 3e-4, gradients clipped at 0.5) on ``loss_of(draw(rng))`` for ``seconds``;
    returns the steps taken."""
    opt = torch.optim.Adam(params, 3e-4)
    rng, start, steps = np.random.default_rng(0), time.time(), 0
    while time.time() - start < seconds:
        loss = loss_of(draw(rng))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        steps += 1
        if steps % 200 == 0:
            print(f"{name}: step {steps}, {time.time() - start:.0f} s, loss {loss.item():.5f}")
    return steps


# ---------------------------------------------------------------------------- scores
def discovery(model: SlotAttention, x: np.ndarray, centres: np.ndarray) -> dict:
    """Fully seen bodies of each clip's frame 5 with a slot centre within 1.5 px."""
    with torch.no_grad():
        p = to_px(model(as_float(x[:, 5]))[1])
    d = [
        np.hypot(*(p[i] - centres[i, 5, j, :2]).T).min()
        for i in range(len(x))
        for j in range(3)
        if centres[i, 5, j, 2] >= 0.9
    ]
    return {"found": float(np.mean(np.array(d) < 1.5)), "median_px": float(np.median(d))}


def tracking(model: SlotTracker, x: np.ndarray, centres: np.ndarray) -> dict:
    """Predicted slot positions against the bodies they stand for, by situation, beside
    a constant-velocity-and-gravity oracle on the true centres."""
    with torch.no_grad():
        where = to_px(model(as_float(x))[2])  # (N, T-1, K, 2), frames 1..T-1
    xy, vis = centres[..., :2], centres[..., 2]
    rows: dict[str, list[tuple[float, float]]] = {"free": [], "after_contact": [], "hidden": []}
    for i in range(len(x)):
        for j in range(3):
            for t in range(2, x.shape[1]):
                if np.isnan(xy[i, t, j, 0]):
                    continue
                oracle = 2 * xy[i, t - 1, j] - xy[i, t - 2, j] + (0, GRAVITY)
                kick = xy[i, t, j] - oracle
                err = np.hypot(*(where[i, t - 1] - xy[i, t, j]).T).min()
                pair = (float(err), float(np.hypot(*kick)))
                if vis[i, t, j] < 0.2 and (vis[i, :t, j] >= 0.9).any():
                    rows["hidden"].append(pair)
                elif vis[i, t, j] >= 0.9 and np.hypot(*kick) >= BOUNCE:
                    rows["after_contact"].append(pair)
                elif vis[i, t, j] >= 0.9:
                    rows["free"].append(pair)
    out = {}
    for name, r in rows.items():
        e = np.array(r)
        out[name] = {
            "n": len(e),
            "median_px": float(np.median(e[:, 0])),
            "within_1_5px": float(np.mean(e[:, 0] < 1.5)),
            "oracle_median_px": float(np.median(e[:, 1])),
            "oracle_within_1_5px": float(np.mean(e[:, 1] < 1.5)),
        }
    return out


def clip_surprise(model: SlotTracker, frames: np.ndarray, context: int) -> np.ndarray:
    """Per frame, the largest 3x3-cell (about 5 px) mean of the squared pixel error of
    its prediction: ``(N, T)``, 0 in the first ``context`` frames (the bench's layout)."""
    out = []
    with torch.no_grad():
        for chunk in np.array_split(frames, max(1, len(frames) // 50)):
            clip = as_float(chunk)
            predicted = model(clip)[0]
            side = predicted.shape[-1]
            e = (predicted - coarse(clip[:, 1:], side)).pow(2).sum(2)
            w = 5 * side // 32 | 1  # about 5 px, odd
            e = F.avg_pool2d(e, w, 1, w // 2, count_include_pad=False).flatten(2).amax(2)
            out.append(F.pad(e[:, context - 1 :], (context, 0)))
    return torch.cat(out).numpy()


def pairs(model: SlotTracker, per_type: int, seed: int, context: int = 4) -> dict:
    """The bench's pair accuracy (clip maximum, ties by the mean), overall and by type and
    variant."""
    made = make_pairs(per_type, seed=seed)
    sp, si = (
        clip_surprise(model, made.possible, context),
        clip_surprise(model, made.impossible, context),
    )
    f = pair_figures(si, sp, made, context)
    return {
        "pair_accuracy": f["pair_accuracy"],
        "by_type": f["pair_accuracy_by_type"],
        "by_variant": f["pair_accuracy_by_variant"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=3000, help="training clips (12 frames)")
    ap.add_argument("--discover-seconds", type=float, default=400)
    ap.add_argument("--track-seconds", type=float, default=600)
    ap.add_argument("--side", type=int, default=16, choices=(8, 16, 32), help="attention grid")
    ap.add_argument("--dim", type=int, default=64, help="slot width")
    ap.add_argument(
        "--position-loss",
        type=float,
        default=0.0,
        help="weight of the loss on predicted slot positions against what the slots then "
        "claim (px², beside the frame losses)",
    )
    ap.add_argument("--pairs-per-type", type=int, default=40)
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="validation seeds by default")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    if args.clips < 1 or args.pairs_per_type < 1:
        ap.error("--clips and --pairs-per-type must be at least 1")
    torch.set_num_threads(2)
    torch.manual_seed(0)

    x, _ = clips(args.clips, seed=0)
    vx, vc = clips(300, seed=args.seed)
    tracker = SlotTracker(args.side, args.dim)
    frames = x.reshape(-1, *x.shape[2:])

    def reconstruct(batch: np.ndarray) -> torch.Tensor:
        f = as_float(batch)
        return F.mse_loss(tracker.slots.decode(tracker.slots(f)), coarse(f, args.side))

    def predict(batch: np.ndarray) -> torch.Tensor:
        clip = as_float(batch)
        predicted, observed, _, miss_px = tracker(clip, args.position_loss > 0)
        target = coarse(clip[:, 1:], args.side)
        frame_loss = F.mse_loss(predicted, target) + F.mse_loss(observed, target)
        return frame_loss + args.position_loss * miss_px

    slot_params = list(tracker.slots.parameters())
    steps = {
        "discover": train(
            reconstruct,
            slot_params,
            lambda r: frames[r.integers(len(frames), size=16)],
            args.discover_seconds,
            "discover",
        ),
    }
    found = discovery(tracker.slots, vx[:200], vc[:200])
    steps["track"] = train(
        predict,
        list(tracker.parameters()),
        lambda r: x[r.integers(len(x), size=8)],
        args.track_seconds,
        "track",
    )
    result = {
        "command": "python benchmarks/slot_tracker.py",
        "args": vars(args),
        "steps": steps,
        "discovery": found,
        "discovery_after_tracking": discovery(tracker.slots, vx[:200], vc[:200]),
        "tracking": tracking(tracker, vx, vc),
        "pairs": pairs(tracker, args.pairs_per_type, args.seed),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

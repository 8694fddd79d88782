"""An object memory beside the video JEPA's predictor: does it expect a hidden body back?

The recurrent predictor moves what the last map shows; a body behind the screen is not
in that map, so nothing is predicted where it should come out, and ``vanish_occluded``
pairs stay near 0 (sessions 33-43). This experiment (session 44) gives a trained JEPA,
frozen, a memory that keeps one slot per body, seen or not (what and where, as
Loci-Looped, Traub et al. 2024), fit on the JEPA's target maps of its own plausible
training clips without labels:

1. **foreground**: which map positions show a movable body. A small convolution learns
   the positions where a clip's map departs from its median over time (its still
   background).
2. **tracking**: each slot follows its body by mean shift on the foreground, and
   remembers the body's look (a window of the map and of its footprint) while it is
   fully seen. A slot whose footprint shows less than ``--full`` of itself is partly
   hidden: it moves by its dynamics, not by what shows.
3. **dynamics**: gravity (the median acceleration of tracked bodies), then a small
   network from what is around a slot (its own body blanked, occluders shown as empty
   space) and its velocity to its next position, trained on tracked bodies: bounces off
   the floor, walls and pillar.
4. **occluder**: a linear map of the still background, positive where a tracked body
   went unseen and came back (the same slot seen again later) and negative elsewhere.

Scoring: the JEPA's predicted map, with every slot that is not fully seen drawn (its
remembered look at its predicted place, weighted by how hidden it is) where nothing
occludes. Surprise and pair scoring are the bench's (``region``, ``max``). Figures on the
validation pairs (never the test seeds), with and without the memory, and on
``--hidden-pairs`` more ``vanish_occluded`` pairs (seed + 2): a bench run holds only about
33 of them, too few to tell 0.15 from 0.30. About 11 minutes on 2 CPU cores (fit 3.5).

Usage::

    python benchmarks/object_memory.py RUN_OR_CHECKPOINT --out object_memory.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jepalab.config import VALIDATION_SEED
from jepalab.envs.physics import TRAIN_STYLE, UNSEEN_STYLE, plausible_clips
from jepalab.envs.violations import make_pair, make_pairs
from jepalab.eval.surprise import frame_surprise, more_surprising, score_pairs
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model, saved_video_config
from jepalab.world_model.video_jepa import VideoJEPA

RADIUS = 6.0  # px a slot looks around its predicted place
WIN = 13  # side of a slot's remembered window (px)
HALF = WIN // 2
FOREGROUND = 0.01  # squared departure from the median map that counts as a body
LOG = ("p", "vis", "alive", "unseen", "f", "window", "radius", "age")


def grid(h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates ``(ys, xs)``, each ``(h, w)``."""
    kw = dict(device=like.device, dtype=like.dtype)
    return torch.meshgrid(torch.arange(h, **kw), torch.arange(w, **kw), indexing="ij")


def windows(src: torch.Tensor, p: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """``src (B*K, C, h, w)`` read in a ``WIN`` square around each ``p (B, K, 2)`` (x, y
    pixels) -> ``(B*K, C, WIN, WIN)``, and the square's offsets ``(gx, gy)``."""
    h, w = src.shape[-2:]
    off = torch.arange(WIN, dtype=p.dtype, device=p.device) - HALF
    gy, gx = torch.meshgrid(off, off, indexing="ij")
    px = p.flatten(0, 1)
    x, y = px[:, 0, None, None] + gx, px[:, 1, None, None] + gy
    g = torch.stack([x * (2 / (w - 1)) - 1, y * (2 / (h - 1)) - 1], -1)
    return F.grid_sample(src, g, padding_mode=padding, align_corners=True), (gx, gy)


class ObjectMemory(nn.Module):
    """What/where slots over a video JEPA's target maps ``(B, T, C, h, w)`` (stride 1)."""

    def __init__(self, channels: int, slots: int = 4, full: float = 0.7) -> None:
        super().__init__()
        self.slots, self.full, self.gone, self.spawn, self.max_hidden = slots, full, 0.15, 0.4, 8
        self.fg = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 1, 1)
        )
        self.occ = nn.Conv2d(channels, 1, 1)
        nn.init.zeros_(self.occ.weight)
        nn.init.constant_(self.occ.bias, -4.0)  # nothing occludes until fit
        self.dyn_conv = nn.Sequential(
            nn.Conv2d(channels + 1, 32, 3, 2, 1), nn.GELU(),
            nn.Conv2d(32, 32, 3, 2, 1), nn.GELU(), nn.Flatten(),
        )  # fmt: skip
        self.dyn_mlp = nn.Sequential(nn.Linear(32 * 16 + 3, 64), nn.GELU(), nn.Linear(64, 2))
        nn.init.zeros_(self.dyn_mlp[-1].weight)
        nn.init.zeros_(self.dyn_mlp[-1].bias)
        self.register_buffer("g", torch.zeros(2))  # gravity, px per frame^2
        self.register_buffer("empty", torch.zeros(channels))  # the map of empty space
        self.learned = False  # dynamics fit: use the network, not gravity alone

    def foreground(self, y: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, C, h, w)`` -> how much each position shows a body ``(N, h, w)``."""
        return torch.sigmoid(self.fg(y))[:, 0]

    def occluder(self, y: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, C, h, w)`` -> how much each position hides bodies behind it."""
        return torch.sigmoid(self.occ(y))[:, 0]

    def acceleration(self, window: torch.Tensor, v: torch.Tensor, radius: torch.Tensor):
        """Surroundings ``(N, C+1, WIN, WIN)``, velocity ``(N, 2)``, radius ``(N,)`` ->
        ``a (N, 2)``: the next position is ``p + v + a``."""
        x = torch.cat([self.dyn_conv(window), v, radius[:, None] / 4], 1)
        return self.g + self.dyn_mlp(x)

    def surroundings(self, y, f, occ, p, ref):
        """What is around each slot ``(B, K, C+1, WIN, WIN)`` (map and foreground), its own
        body blanked and occluders (``occ (B, h, w)``) shown as empty space (bodies pass
        behind them), and each body's radius ``(B, K)`` from its footprint's area."""
        b, k = p.shape[:2]
        # An occluder's edge blurs 2 px into the map: the encoder reads 5x5 pixels.
        seen = F.max_pool2d((occ > 0.5).float()[:, None], 5, 1, 2) == 0
        src = torch.cat([torch.where(seen, y, self.empty[:, None, None]), f[:, None] * seen], 1)
        src = src[:, None].expand(-1, k, -1, -1, -1).flatten(0, 1)
        window, (gx, gy) = windows(src, p, padding="border")
        radius = (ref.flatten() / torch.pi).sqrt() + 0.5
        keep = (gx**2 + gy**2)[None] > radius[:, None, None] ** 2
        return (window * keep[:, None]).unflatten(0, (b, k)), radius.view(b, k)

    def cut(self, y, f, own, p):
        """Each slot's look: windows of the map and of its own foreground around ``p (B,
        K, 2)`` -> ``(B, K, C+1, WIN, WIN)``."""
        b, k = p.shape[:2]
        src = torch.cat(
            [y[:, None].expand(-1, k, -1, -1, -1), (f[:, None] * own)[:, :, None]], 2
        ).flatten(0, 1)
        return windows(src, p)[0].unflatten(0, (b, k))

    def place(self, look, p, size, alpha_only=False):
        """Looks ``(B, K, C+1, WIN, WIN)`` placed at ``p (B, K, 2)`` on a ``size`` map ->
        ``(B, K, C+1, h, w)`` (or the footprints alone, ``(B, K, h, w)``)."""
        b, k = p.shape[:2]
        ys, xs = grid(*size, p)
        pp = p.flatten(0, 1)
        src = look[:, :, -1:] if alpha_only else look
        u = (xs - pp[:, 0, None, None] + HALF) * (2 / (WIN - 1)) - 1
        v = (ys - pp[:, 1, None, None] + HALF) * (2 / (WIN - 1)) - 1
        out = F.grid_sample(src.flatten(0, 1), torch.stack([u, v], -1), align_corners=True)
        out = out.unflatten(0, (b, k))
        return out[:, :, -1] if alpha_only else out

    def draw(self, look, p, alive, vis, occluded, size):
        """The memory's picture ``(B, C+1, h, w)`` (alpha last): each slot's look at ``p``,
        weighted by how hidden it is, where nothing occludes."""
        img = self.place(look, p, size)
        hidden = ((self.full - vis) / (self.full - self.gone)).clamp(0, 1) * alive
        a = img[:, :, -1].clamp(0, 1) * hidden[..., None, None] * (1 - occluded[:, None])
        colour = (a[:, :, None] * img[:, :, :-1]).sum(1) / a.sum(1).clamp_min(1e-6)[:, None]
        return torch.cat([colour, a.sum(1).clamp(max=1)[:, None]], 1)

    @torch.no_grad()
    def track(self, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Target maps ``(B, T, C, h, w)`` -> the memory's pictures ``(B, T, C+1, h, w)``
        (frame t drawn from frames before it; alpha last; 0 at frame 0) and per-frame
        slot states (``LOG`` names, each ``(B, T, ...)``)."""
        b, t, c, h, w = y.shape
        k, dev = self.slots, y.device
        ys, xs = grid(h, w, y)
        p, v = torch.zeros(b, k, 2, device=dev), torch.zeros(b, k, 2, device=dev)
        alive = torch.zeros(b, k, dtype=torch.bool, device=dev)
        hidden, ref = torch.zeros(b, k, device=dev), torch.ones(b, k, device=dev)
        vis, age = torch.zeros(b, k, device=dev), torch.zeros(b, k, device=dev)
        look = torch.zeros(b, k, c + 1, WIN, WIN, device=dev)
        occ = torch.zeros(b, h, w, device=dev)
        acc_next = self.g.expand(b, k, 2)
        pictures = torch.zeros(b, t, c + 1, h, w, device=dev)
        log = []
        for i in range(t):
            yt = y[:, i]
            f = self.foreground(yt)
            acc = acc_next if self.learned else self.g.expand(b, k, 2)
            p_hat, v_hat = p + v + acc * alive[..., None], v + acc * alive[..., None]
            if i > 0:
                pictures[:, i] = self.draw(look, p_hat, alive, vis, (occ > 0.5).float(), (h, w))
            # Find each body near its predicted place: mean shift on the foreground, each
            # position owned by the nearest slot (a bounce moves a body off p_hat).
            found = p_hat
            for _ in range(3):
                d2 = (xs - found[..., 0, None, None]) ** 2 + (ys - found[..., 1, None, None]) ** 2
                d2 = torch.where(alive[..., None, None], d2, torch.full_like(d2, 1e9))
                own = F.one_hot(d2.argmin(1), k).permute(0, 3, 1, 2).float() * (d2 < RADIUS**2)
                mass = (own * f[:, None]).sum((2, 3))
                cx = (own * f[:, None] * xs).sum((2, 3)) / mass.clamp_min(1e-6)
                cy = (own * f[:, None] * ys).sum((2, 3)) / mass.clamp_min(1e-6)
                found = torch.where((mass > 1e-3)[..., None], torch.stack([cx, cy], -1), found)
            # Visible: how much of the remembered footprint, placed where the body was
            # found, shows foreground (relative to the footprint against itself).
            at = self.place(look, found, (h, w), alpha_only=True)
            shows = (at * f[:, None]).sum((2, 3)) / at.sum((2, 3)).clamp_min(1e-6)
            fp = look[:, :, -1]
            itself = fp.pow(2).sum((2, 3)) / fp.sum((2, 3)).clamp_min(1e-6)
            vis = torch.minimum(shows / itself.clamp_min(1e-3), mass / ref)
            vis = torch.where(alive, vis, torch.zeros_like(vis))
            full = alive & (vis > self.full)
            unseen = torch.zeros(b, k, h, w, dtype=torch.bool, device=dev)
            if i > 0:  # where a slot out of sight should be and no body is near
                near_body = F.max_pool2d(f[:, None], 5, 1, 2)
                hid = (
                    self.place(look, p_hat, (h, w), alpha_only=True)
                    * (alive & (vis < 0.4))[..., None, None]
                )
                unseen = (hid > 0.5) & (near_body < 0.2)
            # Fully seen: where it was found; else where its dynamics put it.
            v = torch.where(full[..., None], found - p, v_hat)
            p = torch.where(alive[..., None], torch.where(full[..., None], found, p_hat), p)
            ref = torch.where(full, torch.maximum(ref * 0.95, mass), ref)
            hidden = torch.where(alive & (vis <= self.gone), hidden + 1, torch.zeros_like(hidden))
            look = torch.where(full[..., None, None, None], self.cut(yt, f, own, p), look)
            age = age + alive.float()
            out = (
                (p < -RADIUS).any(-1) | (p[..., 0] > w - 1 + RADIUS) | (p[..., 1] > h - 1 + RADIUS)
            )
            alive = alive & ~out & (hidden <= self.max_hidden)
            # New slots on foreground no slot owns (at the start, or a body that appears).
            for _ in range(k):
                near = (xs - p[..., 0, None, None]) ** 2 + (ys - p[..., 1, None, None]) ** 2
                near = torch.where(alive[..., None, None], near, torch.full_like(near, 1e9))
                owned = (near.amin(1) < RADIUS**2).float()
                rest = F.avg_pool2d((f * (1 - owned))[:, None], 3, 1, 1)[:, 0]
                top, idx = rest.flatten(1).max(1)
                can = (top > self.spawn) & (~alive).any(1)
                if not can.any():
                    break
                sx, sy = (idx % w).to(y.dtype), (idx // w).to(y.dtype)
                disc = ((xs - sx[:, None, None]) ** 2 + (ys - sy[:, None, None]) ** 2) < RADIUS**2
                wgt = f * (1 - owned) * disc
                m = wgt.sum((1, 2)).clamp_min(1e-6)
                c_new = torch.stack([(wgt * xs).sum((1, 2)) / m, (wgt * ys).sum((1, 2)) / m], -1)
                sel = F.one_hot((~alive).float().argmax(1), k).bool() & can[:, None]
                p = torch.where(sel[..., None], c_new[:, None], p)
                v = torch.where(sel[..., None], torch.zeros_like(v), v)
                ref = torch.where(sel, m[:, None].expand(-1, k), ref)
                vis = torch.where(sel, torch.ones_like(vis), vis)
                hidden = torch.where(sel, torch.zeros_like(hidden), hidden)
                age = torch.where(sel, torch.zeros_like(age), age)
                own_new = (
                    (xs - c_new[:, 0, None, None]) ** 2 + (ys - c_new[:, 1, None, None]) ** 2
                ) < RADIUS**2
                new_look = self.cut(yt, f, own_new[:, None].float().expand(-1, k, -1, -1), p)
                look = torch.where(sel[..., None, None, None], new_look, look)
                alive = alive | sel
            occ = self.occluder(yt)
            window, radius = self.surroundings(yt, f, occ, p, ref)
            if self.learned:
                flat = self.acceleration(window.flatten(0, 1), v.flatten(0, 1), radius.flatten())
                acc_next = flat.view(b, k, 2)
            log.append(
                (p.clone(), vis.clone(), alive.clone(), unseen, f, window, radius, age.clone())
            )
        return pictures, {
            name: torch.stack([row[j] for row in log], 1) for j, name in enumerate(LOG)
        }


class WithMemory(nn.Module):
    """A trained video JEPA whose predictions carry the memory's pictures; ``error_maps``
    and ``reduce`` as :class:`VideoJEPA`'s (no streaming: whole clips only)."""

    def __init__(self, base: VideoJEPA, memory: ObjectMemory) -> None:
        super().__init__()
        self.base, self.memory = base, memory
        self.context, self.frame_shape = base.context, base.frame_shape

    @torch.no_grad()
    def error_maps(self, frames: torch.Tensor, memory: None = None) -> tuple[torch.Tensor, None]:
        """uint8 ``(B, T, H, W, C)`` -> squared error per position ``(B, T - context, h,
        w)`` of the JEPA's prediction with the memory's pictures drawn in."""
        k = self.context
        y = target_maps(self.base, frames)
        pred, _ = self.base.predict(self.base.encode(frames))
        pictures = self.memory.track(y)[0][:, k:]
        a = pictures[:, :, -1:]
        pred = pred * (1 - a) + pictures[:, :, :-1] * a
        return (pred - y[:, k:]).pow(2).sum(2), None

    def reduce(self, e: torch.Tensor, spatial: str) -> torch.Tensor:
        return self.base.reduce(e, spatial)


@torch.no_grad()
def target_maps(model: VideoJEPA, frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, T, H, W, 3)`` -> the maps surprise is measured against ``(B, T, C, h, w)``."""
    enc = model.target_encoder or model.encoder
    return enc(frames.flatten(0, 1)).unflatten(0, frames.shape[:2])


class Fit:
    """Fits an :class:`ObjectMemory` on a frozen JEPA's plausible training clips."""

    def __init__(self, model: VideoJEPA, clips: torch.Tensor, memory: ObjectMemory) -> None:
        self.model, self.clips, self.mem = model, clips, memory
        self.report: dict = {}

    def logs(self, n: int, batch: int = 100) -> Iterator[tuple[torch.Tensor, dict]]:
        for j in range(0, n, batch):
            y = target_maps(self.model, self.clips[j : j + batch])
            yield y, self.mem.track(y)[1]

    def foreground(self, steps: int = 400) -> None:
        opt = torch.optim.Adam(self.mem.fg.parameters(), 3e-3)
        for _ in range(steps):
            y = target_maps(self.model, self.clips[torch.randint(len(self.clips), (8,))])
            median = y.median(1, keepdim=True).values
            target = ((y - median).pow(2).sum(2) > FOREGROUND).float().flatten(0, 1)
            logit = self.mem.fg(y.flatten(0, 1))[:, 0]
            loss = F.binary_cross_entropy_with_logits(logit, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.report["foreground_loss"] = round(loss.item(), 4)

    def gravity(self) -> None:
        for _ in range(2):  # the second pass tracks with the first estimate
            acc = []
            for _, log in self.logs(300):
                p, ok = log["p"], triple_seen(log, 0.9)
                acc.append((p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2])[ok])
            self.mem.g.copy_(torch.cat(acc).median(0).values)
        self.report["gravity"] = [round(x, 4) for x in self.mem.g.tolist()]

    def dynamics(self, steps: int = 1500) -> None:
        rows = []
        with torch.no_grad():
            for _, log in self.logs(1500):
                p, ok = log["p"], triple_seen(log, 0.85)
                vel = p[:, 1:-1] - p[:, :-2]
                rows.append(
                    (log["window"][:, 1:-1][ok], vel[ok], log["radius"][:, 1:-1][ok],
                     (p[:, 2:] - p[:, 1:-1] - vel)[ok])
                )  # fmt: skip
        window, vel, radius, target = (torch.cat(x) for x in zip(*rows, strict=True))
        keep = target.norm(dim=1) < 6  # a slot that jumped to another body
        window, vel, radius, target = window[keep], vel[keep], radius[keep], target[keep]
        params = [*self.mem.dyn_conv.parameters(), *self.mem.dyn_mlp.parameters()]
        opt = torch.optim.Adam(params, 2e-3)
        for _ in range(steps):
            i = torch.randint(len(target), (256,))
            err = self.mem.acceleration(window[i], vel[i], radius[i]) - target[i]
            loss = F.smooth_l1_loss(err, torch.zeros_like(err), beta=0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            err = torch.cat([
                (self.mem.acceleration(window[i : i + 2048], vel[i : i + 2048],
                                       radius[i : i + 2048]) - target[i : i + 2048]).norm(dim=1)
                for i in range(0, len(target), 2048)
            ])  # fmt: skip
        gravity_err = (target - self.mem.g).norm(dim=1)
        bounce = gravity_err > 1
        self.mem.learned = True
        self.report.setdefault("dynamics", []).append({
            "triples": len(target),
            "error_px": round(err.mean().item(), 3),
            "gravity_only_error_px": round(gravity_err.mean().item(), 3),
            "bounce_error_px": round(err[bounce].mean().item(), 3),
            "bounce_gravity_only_error_px": round(gravity_err[bounce].mean().item(), 3),
        })  # fmt: skip

    def occluder(self, steps: int = 400) -> None:
        xs, labels = [], []
        with torch.no_grad():
            for y, log in self.logs(1200):
                vis, age, alive = log["vis"], log["age"], log["alive"]
                t = vis.shape[1]
                back = torch.zeros_like(alive)  # the same slot fully seen again later
                for a in range(t):
                    for z in range(a + 1, t):
                        back[:, a] |= (
                            (vis[:, z] > 0.7) & alive[:, z] & (age[:, z] == age[:, a] + z - a)
                        )
                pos = (log["unseen"] & back[..., None, None]).flatten(1, 2).any(1)
                neg = ~pos & (torch.rand(pos.shape) < 0.25)
                still = y.median(1).values.movedim(1, -1)
                xs.append(torch.cat([still[pos], still[neg]]))
                labels.append(torch.cat([torch.ones(int(pos.sum())), torch.zeros(int(neg.sum()))]))
        x, lab = torch.cat(xs), torch.cat(labels)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        z = (x - mu) / sd  # maps are small numbers: standardise, then fold back in
        wt = torch.zeros(z.shape[1], requires_grad=True)
        bt = torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([wt, bt], 5e-2)
        pos_weight = (len(lab) - lab.sum()) / lab.sum().clamp_min(1)
        for _ in range(steps):
            loss = F.binary_cross_entropy_with_logits(z @ wt + bt, lab, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            self.mem.occ.weight.copy_((wt / sd)[None, :, None, None])
            self.mem.occ.bias.copy_(bt - (wt * mu / sd).sum())
            prob = torch.sigmoid(z @ wt + bt)
        self.report.setdefault("occluder", []).append({
            "labels": len(lab),
            "positive": int(lab.sum()),
            "mean_p_positive": round(prob[lab > 0].mean().item(), 3),
            "mean_p_negative": round(prob[lab == 0].mean().item(), 3),
        })  # fmt: skip


def triple_seen(log: dict, level: float) -> torch.Tensor:
    """``(B, T-2, K)``: slots alive and seen above ``level`` at frames t-1, t and t+1."""
    vis, alive = log["vis"], log["alive"]
    seen = (vis > level) & alive
    return seen[:, 2:] & seen[:, 1:-1] & seen[:, :-2]


def figures(model: WithMemory | VideoJEPA, pairs, unseen) -> dict:
    seen, other = (score_pairs(model, p, "region", "max") for p in (pairs, unseen))
    return {
        "pair_accuracy": seen["pair_accuracy"],
        "auroc": round(seen["auroc"], 4),
        "localization_rate": seen["localization_rate"],
        "unseen_style_pair_accuracy": other["pair_accuracy"],
        "pair_accuracy_by_type": {k: round(v, 3) for k, v in seen["pair_accuracy_by_type"].items()},
        "pair_accuracy_by_variant": {
            k: round(v, 3) for k, v in seen["pair_accuracy_by_variant"].items()
        },
    }


def hidden_accuracy(model: WithMemory | VideoJEPA, pairs: tuple[np.ndarray, np.ndarray]) -> float:
    """Pair accuracy on ``vanish_occluded`` pairs alone (a bench run has ~33 of them)."""
    possible, impossible = (frame_surprise(model, x, "region") for x in pairs)
    return round(float(more_surprising(impossible, possible, model.context, "max").mean()), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA checkpoint or run folder (stride-1 maps)")
    ap.add_argument("--pairs-per-type", type=int, default=100)
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="validation seeds by default")
    ap.add_argument("--hidden-pairs", type=int, default=200, help="extra vanish_occluded pairs")
    ap.add_argument(
        "--full", type=float, default=0.7, help="share of a body seen to count as fully seen"
    )
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    if args.pairs_per_type < 1 or args.hidden_pairs < 1:
        ap.error("--pairs-per-type and --hidden-pairs must be at least 1")
    if not 0.2 < args.full < 1:
        ap.error(f"--full must be in (0.2, 1), got {args.full}")
    torch.set_num_threads(2)
    torch.manual_seed(0)

    base, meta = load_video_model(args.checkpoint)
    if meta["target"] != "embedding" or base.stride != 1:
        ap.error("the object memory needs a video JEPA with stride-1 maps (not the pixel twin)")
    cfg = saved_video_config(meta)
    v = cfg.video
    t0 = time.perf_counter()
    clips = plausible_clips(
        v.clips, frames=v.frames, seed=cfg.train.seed, size=v.frame_size, max_offset=v.max_offset
    )
    memory = ObjectMemory(base.channels, full=args.full)
    with torch.no_grad():
        black = torch.zeros(1, 1, *base.frame_shape, dtype=torch.uint8)
        memory.empty.copy_(target_maps(base, black)[0, 0, :, v.frame_size // 2, v.frame_size // 2])
    fit = Fit(base, torch.from_numpy(clips), memory)
    fit.foreground()
    fit.gravity()
    for _ in range(2):  # dynamics and occluder each track with the other's last fit
        fit.dynamics()
        fit.occluder()
    fit_seconds = time.perf_counter() - t0

    pairs = make_pairs(args.pairs_per_type, args.seed, TRAIN_STYLE, size=v.frame_size)
    unseen = make_pairs(args.pairs_per_type, args.seed + 1, UNSEEN_STYLE, size=v.frame_size)
    rng = np.random.default_rng(args.seed + 2)
    made = [make_pair("vanish_occluded", rng, size=v.frame_size) for _ in range(args.hidden_pairs)]
    hidden = (np.stack([m[0] for m in made]), np.stack([m[1] for m in made]))
    with_memory, without = WithMemory(base, memory), base
    result = {
        "checkpoint": str(args.checkpoint),
        "seed": args.seed,
        "pairs_per_type": args.pairs_per_type,
        "full": args.full,
        "fit": {**fit.report, "seconds": round(fit_seconds, 1)},
        "with_memory": figures(with_memory, pairs, unseen),
        "without_memory": figures(without, pairs, unseen),
        "vanish_occluded_pairs": args.hidden_pairs,
        "vanish_occluded_accuracy": {
            "with_memory": hidden_accuracy(with_memory, hidden),
            "without_memory": hidden_accuracy(without, hidden),
        },
    }
    atomic_write_text(args.out, json.dumps(result, indent=2))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

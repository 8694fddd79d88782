"""Where does a video model's surprise at plausible clips come from?

Pairs are lost when the possible clip surprises the model more than the violation does,
so what in plausible clips surprises it is what to fix. On plausible clips of the physics
world (validation seeds by default, never the benchmark's test seeds; 20 frames, as the
benchmark's pairs), each predicted frame's surprise (the checkpoint's own spatial
reduction) is filed by what the simulator recorded (``physics.record``), the first that
applies:

- ``bodies collide``: two bodies hit each other (a kick of ``BOUNCE`` or more) in the step
  into this frame; ``after bodies collide``: in the step into the frame before (predicted
  from a last map that shows the collision half done);
- ``comes out``: a body comes out from behind the screen;
- ``bounce`` / ``after bounce``: a body bounces off the floor, a wall or the pillar;
- ``free``: none of these.

Per class: how many frames, the median and 90th percentile of their surprise in units of
the median predicted frame, and the share of clips whose most surprising frame is of that
class. About a minute on 2 CPU cores.

Usage::

    python benchmarks/surprise_events.py RUN_OR_CHECKPOINT --out surprise_events.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from jepalab.config import VALIDATION_SEED
from jepalab.envs.physics import Recording, bounced, random_scene, record
from jepalab.eval.surprise import frame_surprise
from jepalab.io import atomic_write_text
from jepalab.training.video_trainer import load_video_model

CLASSES = (
    "bodies collide",
    "after bodies collide",
    "comes out",
    "bounce",
    "after bounce",
    "free",
)


def frame_class(rec: Recording, t: int) -> str:
    """What happened at frame ``t`` of a recording, by the order of :data:`CLASSES`."""

    def hit(i: int, what: str) -> bool:
        return i >= 0 and bounced(rec.contacts[i], what)

    if hit(t, "body"):
        return "bodies collide"
    if hit(t - 1, "body"):
        return "after bodies collide"
    if rec.emerging[t]:
        return "comes out"
    if hit(t, "solid"):
        return "bounce"
    if hit(t - 1, "solid"):
        return "after bounce"
    return "free"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="video JEPA or pixel-twin checkpoint or run folder")
    ap.add_argument("--clips", type=int, default=400)
    ap.add_argument("--seed", type=int, default=VALIDATION_SEED, help="validation seeds by default")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()
    if args.clips < 1:
        ap.error(f"--clips must be at least 1, got {args.clips}")
    torch.set_num_threads(2)

    model, meta = load_video_model(args.checkpoint)
    size, k = model.frame_shape[0], model.context
    rng = np.random.default_rng(args.seed)
    recs = [record(random_scene(rng, size=size), 20) for _ in range(args.clips)]
    surprise = frame_surprise(model, np.stack([r.frames for r in recs]), meta["spatial"])[:, k:]
    level = float(np.median(surprise))
    labels = np.array([[frame_class(r, t) for t in range(k, 20)] for r in recs])
    peaks = labels[np.arange(len(recs)), surprise.argmax(1)]
    classes = {}
    for name in CLASSES:
        e = surprise[labels == name] / level
        classes[name] = {
            "frames": int(e.size),
            "median": float(np.median(e)) if e.size else None,
            "p90": float(np.percentile(e, 90)) if e.size else None,
            "share_of_clip_peaks": float((peaks == name).mean()),
        }
    figures = {"checkpoint": args.checkpoint, "clips": args.clips, "seed": args.seed}
    figures.update(level=level, classes=classes)
    atomic_write_text(args.out, json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

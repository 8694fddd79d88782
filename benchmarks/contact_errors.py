"""How well does a Two-Rooms world model predict contacts? Open-loop prediction error by case.

For 200 seeded situations (50 per case) the agent is placed, pushed with one constant
action for 12 steps in the real world and in the model's imagination (a latent rollout from
the first observation), and the imagined positions are read out with a linear probe fitted
on 400 rendered random states. Cases:

- ``wall``: beside the inner wall, away from the door, pushing into it (truth: blocked);
- ``border``: against the border, pushing out of the picture (truth: blocked);
- ``corner``: against the top or bottom border beside the inner wall, pushing along the
  border into the wall (truth: blocked; where the planner's failures end);
- ``door``: 10 px in front of the door, pushing through it (truth: passes);
- ``free``: in the open, moving along the room.

Usage::

    python benchmarks/contact_errors.py RUN_OR_CHECKPOINT [...] --out contact_errors.json

Writes, per checkpoint and case, the mean position error in pixels after 4 and 12 steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from jepalab.envs import make_env
from jepalab.envs.dot_world import MAX_STEP
from jepalab.envs.two_rooms import render
from jepalab.io import atomic_write_text
from jepalab.training import load_world_model
from jepalab.world_model import WorldModel

CASES = ("wall", "border", "corner", "door", "free")
STEPS = 12


def situation(case: str, rng: np.random.Generator) -> tuple[tuple[int, int], tuple, tuple]:
    """A layout ``(wall_x, door_y)``, a start ``(x, y)`` and a constant action for ``case``."""
    wall, door = int(rng.integers(20, 45)), int(rng.integers(10, 55))
    if case == "wall":
        y = rng.uniform(4, 61)
        while abs(y - door) < 8:
            y = rng.uniform(4, 61)
        side = rng.choice([-1, 1])
        return (wall, door), (wall + side * (3.5 + rng.uniform(0, 6)), y), (-side * MAX_STEP, 0)
    if case == "border":
        t = rng.uniform(5, 60)
        x = t if abs(t - wall) > 4 else t + 8
        start, action = [
            ((x, 3.6), (0, -MAX_STEP)),
            ((x, 61.4), (0, MAX_STEP)),
            ((3.6, t), (-MAX_STEP, 0)),
            ((61.4, t), (MAX_STEP, 0)),
        ][int(rng.integers(4))]
        return (wall, door), start, action
    if case == "corner":
        side = rng.choice([-1, 1])
        y = rng.choice([3.6, 61.4])
        push_y = -MAX_STEP / 2 if y < 32 else MAX_STEP / 2  # keep pressing on the border too
        x = wall + side * (3.5 + rng.uniform(0, 6))
        return (wall, door), (x, y), (-side * MAX_STEP * 0.85, push_y)
    if case == "door":
        side = rng.choice([-1, 1])
        return (wall, door), (wall + side * 10, door), (-side * MAX_STEP, 0)
    side = rng.choice([-1, 1])
    x = rng.uniform(5, wall - 12) if side < 0 else rng.uniform(wall + 12, 60)
    return (wall, door), (x, rng.uniform(10, 55)), (0, rng.choice([-1, 1]) * MAX_STEP)


@torch.no_grad()
def position_probe(model: WorldModel, rng: np.random.Generator, n: int = 400):
    """Ridge regression embedding -> (x, y), fitted on ``n`` rendered random states."""
    layouts = [(int(rng.integers(20, 45)), int(rng.integers(10, 55))) for _ in range(n)]
    pos = rng.uniform(3, 62, (n, 2))
    obs = np.stack([render(w, d, p) for (w, d), p in zip(layouts, pos, strict=True)])
    x = torch.cat([model.encode(torch.from_numpy(obs)).double(), torch.ones(n, 1).double()], 1)
    w = torch.linalg.solve(x.T @ x + 1e-3 * torch.eye(x.shape[1]).double(), x.T @ torch.tensor(pos))

    def read(z: torch.Tensor) -> np.ndarray:
        return (torch.cat([z.double(), torch.ones(*z.shape[:-1], 1).double()], -1) @ w).numpy()

    return read


@torch.no_grad()
def contact_errors(
    model: WorldModel, frame_skip: int = 1, per_case: int = 50, seed: int = 0
) -> dict[str, dict]:
    """Mean imagined-vs-true position error per case; the model steps ``frame_skip``
    environment steps at a time."""
    rng = np.random.default_rng(seed)
    read = position_probe(model, rng)
    env = make_env("two-rooms", action_noise=0.0)
    out = {}
    for case in CASES:
        errors = []
        for _ in range(per_case):
            layout, start, action = situation(case, rng)
            env.reset(options={"layout": layout, "pos": np.array(start)})
            truth = []
            for _ in range(STEPS):
                env.step(np.array(action, np.float32))
                truth.append(env.state.copy())
            obs = torch.from_numpy(render(*layout, np.array(start)))[None]
            actions = torch.tensor(action).float().expand(1, STEPS // frame_skip, 2)
            pred = read(model.rollout(model.encode(obs), actions, model.scene_map(obs))[0])
            true = np.array(truth)[frame_skip - 1 :: frame_skip]
            errors.append(np.linalg.norm(pred - true, axis=1))
        e = np.array(errors)
        at4 = 4 // frame_skip - 1
        out[case] = {"error_px_4": float(e[:, at4].mean()), "error_px_12": float(e[:, -1].mean())}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", help="run folders or checkpoint files")
    p.add_argument("--out", required=True, help="JSON file for the figures")
    args = p.parse_args()
    torch.set_num_threads(2)
    figures = {}
    for ckpt in args.checkpoints:
        path = Path(ckpt)
        if path.is_dir():
            path = path / "checkpoints" / "last.safetensors"
        model, cfg = load_world_model(path)
        figures[ckpt] = contact_errors(model, cfg.model.frame_skip)
        print(ckpt, json.dumps(figures[ckpt]))
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

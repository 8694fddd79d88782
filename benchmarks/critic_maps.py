"""Where does a critic lead a short planner? Two-Rooms value maps, and going downhill on them.

For each task (seeded as the evaluation is, by default from 2,000,000: validation seeds on
which no benchmark figure is measured) the agent is drawn at every free pixel of the task's
layout, and each critic values every placement against the task's goal. Per critic:

- ``downhill_success``: the fraction of placements from which following the value downhill
  (to the lowest of the 8 neighbouring free pixels, until none is lower) ends within 4.5 px
  of the goal, the Two-Rooms success radius. A value that measures the way along the paths
  the world allows scores 1.0; a local minimum beside the wall scores less;
- ``far_side_downhill_success``: the same over the placements in the room without the
  goal, the ones that need the door.

``--png`` draws the first tasks' maps (log value; the goal a red star, the task's start a
white dot, the door yellow), one column per critic.

Usage::

    python benchmarks/critic_maps.py RUN CRITIC [CRITIC ...] --out critic_maps.json [--png maps.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from jepalab.config import VALIDATION_SEED
from jepalab.cost import Critic, load_critic
from jepalab.envs import geometry, make_env
from jepalab.envs.dot_world import AGENT_RADIUS, SIZE, SUCCESS_DISTANCE
from jepalab.envs.two_rooms import render, room_of, wall_rects
from jepalab.io import atomic_path, atomic_write_text
from jepalab.training import load_world_model
from jepalab.world_model import WorldModel

NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]


def free_pixels(layout: tuple[int, int]) -> np.ndarray:
    """``(P, 2)`` integer ``(x, y)`` positions where the agent fits in ``layout``."""
    rects = wall_rects(*layout)
    grid = [(x, y) for y in range(SIZE) for x in range(SIZE)]
    return np.array([p for p in grid if geometry.is_free(p, rects, AGENT_RADIUS)])


def downhill_ends(pixels: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``(P, 2)`` where steepest descent on ``value`` over 8-connected ``pixels`` ends, from
    every pixel."""
    index = {tuple(p): i for i, p in enumerate(pixels.tolist())}
    nxt = np.arange(len(pixels))
    for i, (x, y) in enumerate(pixels.tolist()):
        around = [index[q] for q in ((x + dx, y + dy) for dx, dy in NEIGHBOURS) if q in index]
        best = min(around, key=lambda j: value[j], default=i)
        if value[best] < value[i]:
            nxt[i] = best
    for _ in range(len(pixels)):  # follow the pointers until they stop moving
        after = nxt[nxt]
        if np.array_equal(after, nxt):
            break
        nxt = after
    return pixels[nxt]


@torch.no_grad()
def task_values(
    model: WorldModel, critics: list[Critic], goal_obs: np.ndarray, layout: tuple[int, int]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The free pixels of ``layout`` and each critic's ``(P,)`` value of the agent there."""
    pixels = free_pixels(layout)
    images = torch.from_numpy(np.stack([render(*layout, p) for p in pixels]))
    z = torch.cat([model.encode(chunk) for chunk in images.split(1024)])
    goal = model.encode(torch.from_numpy(goal_obs)[None]).expand_as(z)
    return pixels, [critic(z, goal).numpy() for critic in critics]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="Two-Rooms run folder or world-model checkpoint")
    p.add_argument("critics", nargs="+", help="critic checkpoints (critic.safetensors)")
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--png", help="also draw the first tasks' value maps here")
    p.add_argument("--tasks", type=int, default=50)
    p.add_argument("--seed", type=int, default=VALIDATION_SEED, help="seed of the first task")
    args = p.parse_args()
    torch.set_num_threads(2)
    model, _ = load_world_model(args.run)  # a run folder reads its last checkpoint
    critics = [load_critic(c) for c in args.critics]
    env = make_env("two-rooms")
    hits = {c: [] for c in args.critics}
    far = {c: [] for c in args.critics}
    drawn = []
    for seed in range(args.seed, args.seed + args.tasks):
        _, goal_obs = env.reset_task(seed)
        layout, goal, start = env.layout, env.goal, env.state
        pixels, values = task_values(model, critics, goal_obs, layout)
        far_side = np.array([room_of(q, layout[0]) != room_of(goal, layout[0]) for q in pixels])
        for name, value in zip(args.critics, values, strict=True):
            ends = downhill_ends(pixels, value)
            reached = np.linalg.norm(ends - goal, axis=1) <= SUCCESS_DISTANCE
            hits[name].append(reached.mean())
            far[name].append(reached[far_side].mean())
        if len(drawn) < 4:
            drawn.append((seed, layout, goal, start, pixels, values))
    figures = {
        name: {
            "downhill_success": float(np.mean(hits[name])),
            "far_side_downhill_success": float(np.mean(far[name])),
            "tasks": args.tasks,
            "first_seed": args.seed,
        }
        for name in args.critics
    }
    for name, f in figures.items():
        print(name, json.dumps(f))
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2))
    if args.png:
        draw(drawn, args.critics, Path(args.png))


def draw(tasks: list, names: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(tasks), len(names), figsize=(3.2 * len(names), 3.2 * len(tasks)), squeeze=False
    )
    for row, (seed, (wall_x, door_y), goal, start, pixels, values) in enumerate(tasks):
        for col, (name, value) in enumerate(zip(names, values, strict=True)):
            picture = np.full((SIZE, SIZE), np.nan)
            picture[pixels[:, 1], pixels[:, 0]] = np.log(value + 1e-6)
            ax = axes[row, col]
            ax.imshow(picture, cmap="viridis")
            ax.plot(*goal, "r*", ms=11)
            ax.plot(*start, "wo", ms=5)
            ax.plot([wall_x, wall_x], [door_y - 4, door_y + 4], "y", lw=3)
            ax.set_title(f"seed {seed}: {Path(name).parent.name}/{Path(name).stem}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()

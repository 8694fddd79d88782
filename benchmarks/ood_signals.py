"""Which signal tells a Two-Rooms agent that its situation is outside its training? (issue 5)

Groundwork for the abstention gate: for held-out tasks drawn as usual (``in``) and three
kinds of situation the world model never saw, made by editing the images,

- ``inverted``: colours inverted (255 - pixel);
- ``moved-border``: the border drawn 6 px thick instead of 2;
- ``two-doors``: a second door cut into the inner wall,

it measures how often each candidate signal exceeds the 99th percentile of its value on
other in-distribution tasks (the calibration a gate would use):

- ``embedding``: Mahalanobis distance of the start observation's embedding from the
  embeddings of 600 in-distribution starts;
- ``scene``: the same for the scene map the predictor's glimpse reads (every 16th value);
- ``surprise``: mean one-step prediction energy over the first 6 world-model steps of the
  planning agent (the edit applied to every observation; the physics stay those of the
  unedited world, which the first steps rarely reach).

Usage::

    python benchmarks/ood_signals.py RUN_OR_CHECKPOINT --out ood_signals.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from jepalab.agent import Agent
from jepalab.config import VALIDATION_SEED
from jepalab.envs import make_env
from jepalab.io import atomic_write_text
from jepalab.training import load_world_model

# Seed ranges: disjoint, and held out from training and evaluation.
FIT, CALIBRATE, TEST = VALIDATION_SEED + 100_000, VALIDATION_SEED + 200_000, VALIDATION_SEED
WALL_GRAY, THICK_BORDER, DOOR_HALF = 200, 6, 4


def edit(kind: str, layout: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """The image edit that makes a ``kind`` situation out of an ordinary observation."""
    wall_x, door_y = layout
    second = (door_y - 10 + 22) % 45 + 10  # another door position, 22 rows away (cyclic)

    def apply(obs: np.ndarray) -> np.ndarray:
        obs = obs.copy()
        if kind == "inverted":
            return 255 - obs
        if kind == "moved-border":
            for s in (np.s_[:THICK_BORDER], np.s_[-THICK_BORDER:]):
                obs[s] = np.maximum(obs[s], WALL_GRAY)
                obs[:, s] = np.maximum(obs[:, s], WALL_GRAY)
        if kind == "two-doors":
            obs[second - DOOR_HALF : second + DOOR_HALF + 1, wall_x - 1 : wall_x + 2] = 0
        return obs

    return apply


def starts(seeds: range, kind: str) -> torch.Tensor:
    env, out = make_env("two-rooms"), []
    for seed in seeds:
        obs, _ = env.reset_task(seed)
        out.append(edit(kind, env.layout)(obs))
    return torch.from_numpy(np.stack(out))


def mahalanobis(fit: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    mean = fit.mean(0)
    precision = np.linalg.inv(np.cov(fit, rowvar=False) + 1e-4 * np.eye(fit.shape[1]))
    return lambda x: np.einsum("nd,de,ne->n", x - mean, precision, x - mean)


@torch.no_grad()
def surprise(model, cfg, seeds: range, kind: str, steps: int = 6) -> np.ndarray:
    """Mean one-step prediction energy over the first ``steps`` world-model steps."""
    env, out = make_env("two-rooms"), []
    skip = cfg.model.frame_skip
    for seed in seeds:
        obs, goal = env.reset_task(seed)
        look = edit(kind, env.layout)
        agent = Agent.for_env(model, cfg, env)
        agent.set_goal(look(goal))
        obs, energies, prev = look(obs), [], None
        for t in range(steps * skip):
            action = agent.act(obs)
            if t % skip == 0:
                x = torch.from_numpy(obs[None])
                z = model.encode(x)
                if prev is not None:
                    energies.append(float((model.step(*prev) - z).square().sum()))
                prev = (z, torch.as_tensor(action[None]).float(), model.scene_map(x))
            obs, _, terminated, truncated, _ = env.step(action)
            obs = look(obs)
            if terminated or truncated:
                break
        out.append(np.mean(energies) if energies else 0.0)
    return np.array(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a Two-Rooms world model (run folder or checkpoint)")
    p.add_argument("--out", required=True, help="JSON file for the flag rates")
    p.add_argument("--episodes", type=int, default=200, help="test tasks per kind")
    args = p.parse_args()
    torch.set_num_threads(2)
    model, cfg = load_world_model(args.checkpoint)
    kinds = ("in", "inverted", "moved-border", "two-doors")
    test = range(TEST, TEST + args.episodes)
    with torch.no_grad():
        features = {
            "embedding": lambda x: model.encode(x).numpy(),
            "scene": lambda x: model.scene_map(x).flatten(1)[:, ::16].numpy(),
        }
        rates: dict[str, dict[str, float]] = {}
        for name, feature in features.items():
            score = mahalanobis(feature(starts(range(FIT, FIT + 600), "in")))
            threshold = np.percentile(
                score(feature(starts(range(CALIBRATE, CALIBRATE + 300), "in"))), 99
            )
            rates[name] = {
                k: float(np.mean(score(feature(starts(test, k))) > threshold)) for k in kinds
            }
            print(name, rates[name], flush=True)
    threshold = np.percentile(surprise(model, cfg, range(CALIBRATE, CALIBRATE + 100), "in"), 99)
    rates["surprise"] = {
        k: float(np.mean(surprise(model, cfg, test, k) > threshold)) for k in kinds
    }
    print("surprise", rates["surprise"], flush=True)
    figures = {"checkpoint": str(args.checkpoint), "episodes": args.episodes, "flag_rate": rates}
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

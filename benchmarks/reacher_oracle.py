"""Can the planner reach Reacher goals when the world model and the cost are perfect?

An upper bound for a planner configuration, not a score: jepalab's own planner and MPC,
with the true MuJoCo simulator as the world model (``mujoco.rollout`` from the arm's exact
state) and the fingertip's true distance to the goal as the cost. What it leaves out is
everything a learned model gets wrong, so a configuration that fails here fails any model.

The "embedding" is the simulator's full physics state; the cost reads from it the
fingertip's position and its displacement over the last environment step (metres) and
scores them as :class:`~jepalab.cost.GoalEnergy` scores embeddings (terminal and running
squared distances to the goal, at rest). As the agent does, a decision is made once per
world-model step (``model.frame_skip`` environment steps) and held for that long; each of
a plan's steps is one world-model step. Tasks, action noise and the success test are the
evaluation's (``jepalab evaluate``).

Usage::

    python benchmarks/reacher_oracle.py --out reacher_oracle.json
    python benchmarks/reacher_oracle.py --planner.horizon 24 --planner.action_repeat 3 ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from jepalab.actor.mpc import MPC
from jepalab.actor.planner import make_planner
from jepalab.agent import bounds_for
from jepalab.cli import reacher_bench_config
from jepalab.config import apply_overrides, parse_overrides
from jepalab.cost import GoalEnergy
from jepalab.envs import env_from_config
from jepalab.errors import JepalabError
from jepalab.eval.stats import wilson_interval
from jepalab.io import atomic_write_text


class Simulator:
    """The true world model: full physics states ``(N, S)`` and actions ``(N, H, A)`` ->
    the states after each world-model step ``(N, H, S)``, every action held for
    ``frame_skip`` environment steps."""

    def __init__(self, env, frame_skip: int, threads: int = 2) -> None:
        import mujoco
        from mujoco import rollout

        self.mujoco, self._rollout = mujoco, rollout
        self.model = env.sim.model
        # upper arm and forearm-to-fingertip, metres: where each body sits on its parent
        self.links = (
            float(self.model.body("body1").pos[0]),
            float(self.model.body("fingertip").pos[0]),
        )
        self.per_step = env.sim.frame_skip * frame_skip  # MuJoCo steps per model step
        self.dt = env.sim.dt  # seconds per environment step
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.datas = [mujoco.MjData(self.model) for _ in range(threads)]

    def state(self, env) -> np.ndarray:
        """``(S,)`` the full physics state of ``env``'s simulation."""
        out = np.empty(self.mujoco.mj_stateSize(self.model, self.spec))
        self.mujoco.mj_getState(self.model, env.sim.data, out, self.spec)
        return out

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        n, h, a = actions.shape
        ctrl = np.zeros((n, h * self.per_step, self.model.nu))
        ctrl[..., :a] = np.repeat(actions.double().numpy(), self.per_step, axis=1)
        states, _ = self._rollout.rollout(self.model, self.datas, z0.double().numpy(), ctrl)
        return torch.from_numpy(states[:, self.per_step - 1 :: self.per_step])

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """States ``(..., S)`` -> the fingertip's position and its displacement over an
        environment step at the current joint speeds, ``(..., 4)`` in metres."""
        q = z[..., 1:3]  # after the time; the arm's two joints come first
        qvel = z[..., 1 + self.model.nq : 3 + self.model.nq]
        now = self.fingertip(q)
        return torch.cat([now, now - self.fingertip(q - qvel * self.dt)], -1)

    def fingertip(self, q: torch.Tensor) -> torch.Tensor:
        """Joint angles ``(..., 2)`` -> fingertip ``(..., 2)`` in metres (root at the origin)."""
        (upper, fore), a, b = self.links, q[..., 0], q[..., 0] + q[..., 1]
        return torch.stack([upper * a.cos() + fore * b.cos(), upper * a.sin() + fore * b.sin()], -1)


def run(cfg, episodes: int, threads: int) -> dict:
    """Success of ``cfg``'s planner on the evaluation's first ``episodes`` tasks, with the
    true simulator for world model and the true fingertip distance for cost."""
    envs = [env_from_config(cfg.env) for _ in range(episodes)]
    try:
        return _run(cfg, envs, threads)
    finally:
        for env in envs:
            env.close()


def _run(cfg, envs: list, threads: int) -> dict:
    episodes = len(envs)
    sim = Simulator(envs[0], cfg.model.frame_skip, threads)
    goals = []
    for k, env in enumerate(envs):
        env.reset_task(cfg.eval.seed + k)
        g = sim.state(env)  # the goal: at the goal's joint angles, at rest
        g[1:3] = env.goal_arm
        g[1 + sim.model.nq : 3 + sim.model.nq] = 0.0
        goals.append(g)
    weights = GoalEnergy(cfg.cost.terminal_weight, cfg.cost.running_weight)

    def energy(pred: torch.Tensor, goal: torch.Tensor, scene=None) -> torch.Tensor:
        return weights(sim.features(pred), sim.features(goal))

    mpc = MPC(make_planner(sim, energy, bounds_for(envs[0]), cfg.planner))
    z_goal = torch.from_numpy(np.stack(goals))
    live = np.arange(episodes)
    done = np.zeros(episodes, bool)
    mpc.reset(episodes)
    t0 = time.perf_counter()
    for _ in range(0, envs[0].max_episode_steps, cfg.model.frame_skip):
        z0 = torch.from_numpy(np.stack([sim.state(envs[i]) for i in live]))
        actions = mpc.act(z0, z_goal[live]).numpy()
        for i, action in zip(live, actions, strict=True):
            for _ in range(cfg.model.frame_skip):
                _, _, terminated, truncated, _ = envs[i].step(action)
                if terminated or truncated:
                    done[i] = True
                    break
        if done.all():
            break
        keep = ~done[live]
        mpc.keep(torch.from_numpy(keep))
        live = live[keep]
    success = [bool(env.is_success()) for env in envs]
    k = sum(success)
    return {
        "success_rate": k / episodes,
        "episodes": episodes,
        "ci95": wilson_interval(k, episodes),
        "mean_final_distance": float(np.mean([env.goal_distance() for env in envs])),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="JSON file to write (default: print only)")
    args, extra = ap.parse_known_args()
    torch.set_num_threads(args.threads)
    try:
        cfg = apply_overrides(reacher_bench_config(), parse_overrides(extra))
        figures = run(cfg, args.episodes, args.threads)
    except JepalabError as err:
        sys.exit(f"error: {err}")
    figures["planner"] = vars(cfg.planner)
    figures["frame_skip"] = cfg.model.frame_skip
    figures["cost"] = {"terminal": cfg.cost.terminal_weight, "running": cfg.cost.running_weight}
    print(json.dumps({k: figures[k] for k in ("success_rate", "episodes", "seconds")}))
    if args.out:
        atomic_write_text(args.out, json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

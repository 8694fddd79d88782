"""The agent's perception-action loop: observe, encode, decide (react or plan), act.

``Agent`` ties Perception (the encoder), the World model (the predictor), the Cost (goal
energy, optionally the trained critic as terminal cost and a hazard probe) and the Actor:
Mode-2 (receding-horizon planning through the world model, risk-averse with a predictor
ensemble and ``planner.risk > 0``) and, when given, Mode-1 (a policy distilled from
Mode-2, one forward pass). It works on one environment or a batch of them;
the goal is encoded once, when it is set. A world model whose step spans
``model.frame_skip`` environment steps decides once per model step and the agent holds
each action for that many environment steps.

With a Mode-1 policy and ``agent.mode = "auto"`` (the default) every decision starts with
Mode-1; Mode-2 takes over, per environment, where Mode-1 is unsure (its ensemble disagrees
by more than ``agent.max_spread``) or stuck (the cost to come has not improved for
``agent.patience`` decisions). :attr:`Agent.mode_counts` counts which mode acted.

With :class:`~jepalab.configurator.detour.Detours`, Mode-2 that has come to rest off the
goal aims at a remembered state for a while, then at the goal again from there. With
:class:`~jepalab.configurator.routes.Routes` it aims, every decision (but on a detour), a
few steps ahead on the way its episodic memory knows to the goal.

With a :class:`~jepalab.safety.SafetyGate` the agent **abstains** where it does not know:
when the goal or the start of a task looks unfamiliar, or when the world surprises its model
(see :mod:`jepalab.safety`); with a hazard probe, also when the goal is in a forbidden
region. An abstaining agent answers zero actions for that environment
from then on and :attr:`Agent.abstained` holds the reason; it never acts on a guess.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .actor import MPC, ActionBounds, make_planner
from .actor.policy import Mode1Policy, compiled_react, react
from .config import RunConfig
from .cost import GOAL_IN_HAZARD, Critic, GoalEnergy, HazardProbe, goal_cost
from .errors import JepalabError
from .safety import SURPRISE_WINDOW, SafetyGate
from .world_model import WorldModel
from .world_model.predictor_ensemble import PredictorEnsemble

if TYPE_CHECKING:  # the configurator package imports this module
    from .configurator.detour import Detours
    from .configurator.routes import Routes

MODES = ("auto", "mode1", "mode2")


class Agent:
    """A goal-conditioned agent that reacts (Mode-1) or plans in latent space (Mode-2)."""

    def __init__(
        self,
        model: WorldModel,
        cfg: RunConfig,
        bounds: ActionBounds,
        critic: Critic | None = None,
        policy: Mode1Policy | None = None,
        gate: SafetyGate | None = None,
        hazard: HazardProbe | None = None,
        ensemble: PredictorEnsemble | None = None,
        detours: Detours | None = None,
        routes: Routes | None = None,
    ) -> None:
        if cfg.agent.mode not in MODES:
            raise JepalabError(f"agent.mode must be one of {MODES}, got '{cfg.agent.mode}'")
        if cfg.agent.mode == "mode1" and policy is None:
            raise JepalabError("agent.mode 'mode1' needs a Mode-1 policy")
        if cfg.agent.patience < 1:
            raise JepalabError(f"agent.patience must be at least 1, got {cfg.agent.patience}")
        self.model, self.cfg = model.eval(), cfg
        c = cfg.cost
        energy = GoalEnergy(
            c.terminal_weight, c.running_weight, critic, c.critic_weight, hazard, c.hazard_weight
        )
        spread = ensemble.spread if ensemble is not None else None
        self.mpc = MPC(make_planner(self.model, energy, bounds, cfg.planner, spread))
        self.critic, self.policy, self.gate, self.hazard = critic, policy, gate, hazard
        self.detours, self.routes = detours, routes
        self.abstained: list[str | None] = []  # per environment: why it stopped acting
        self.mode = cfg.agent.mode if policy is not None else "mode2"
        # a Mode-1 decision, (E, H, W, C) images and (E, D) goals -> (z, action, spread)
        self.react = functools.partial(react, self.model, policy)
        if cfg.agent.compile and self.mode != "mode2":
            self.react = compiled_react(self.model, policy)
        self.mode_counts = {"mode1": 0, "mode2": 0}  # decisions per environment, by mode
        self.decisions = 0  # decision steps taken (each may serve a batch of environments)
        self.embedding: torch.Tensor | None = None  # (E, D) observations at the last decision
        self.z_goal: torch.Tensor | None = None
        self.frame_skip = cfg.model.frame_skip
        self._held: np.ndarray | None = None  # (E, A) the action of the current model step
        self._held_for = 0  # environment steps it has been returned for
        self._planned: torch.Tensor | None = None  # (E,) bool: Mode-2 made the last decision
        self._best: torch.Tensor | None = None  # (E,) lowest cost to come seen this episode
        self._since: torch.Tensor | None = None  # (E,) decisions since it last improved
        # (z, action, scene) of the last decision: what the gate checks the next one against
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self._surprise: list[torch.Tensor] = []  # (E,) energies of the last decisions
        self._task_ids: torch.Tensor | None = None  # (E,) index of each live env's task
        # (tasks,) per task of the last set_goal, what SafetyGate.calibrate_* read: the
        # highest novelty of its goal and start (0 before the gate looked), and the highest
        # windowed surprise the gate was asked about (0 before the first window)
        self.peak_novelty: torch.Tensor | None = None
        self.peak_surprise: torch.Tensor | None = None

    @classmethod
    def for_env(
        cls,
        model: WorldModel,
        cfg: RunConfig,
        env,
        critic: Critic | None = None,
        policy: Mode1Policy | None = None,
        gate: SafetyGate | None = None,
        hazard: HazardProbe | None = None,
        ensemble: PredictorEnsemble | None = None,
        detours: Detours | None = None,
        routes: Routes | None = None,
    ) -> Agent:
        """An agent whose actions respect ``env``'s action space (and norm limit, if any)."""
        return cls(
            model, cfg, bounds_for(env), critic, policy, gate, hazard, ensemble, detours, routes
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path, env) -> Agent:
        from .training import load_world_model

        model, cfg = load_world_model(path)
        return cls.for_env(model, cfg, env)

    def images(self, obs: np.ndarray) -> torch.Tensor:
        """Check observation(s) ``(..., H, W, C)``; return them as uint8 ``(E, H, W, C)``."""
        obs = np.asarray(obs)
        if obs.shape[-3:] != self.model.obs_shape or obs.dtype != np.uint8:
            raise JepalabError(
                f"observation has shape {obs.shape} and dtype {obs.dtype}; the model expects "
                f"uint8 images of shape {self.model.obs_shape} (H, W, C)"
            )
        return torch.from_numpy(obs.reshape(-1, *obs.shape[-3:]))

    @torch.no_grad()
    def set_goal(self, goal_obs: np.ndarray) -> None:
        """Encode the goal image(s) ``(H, W, C)`` or ``(E, H, W, C)`` and reset the plans.

        The agent abstains in an environment whose goal is unfamiliar (with a gate) or in a
        forbidden region (with a hazard probe): it says so instead of trying."""
        images = self.images(goal_obs)
        self.z_goal = self.model.encode(images)
        num_envs = self.z_goal.shape[0]
        self.abstained = [None] * num_envs
        checks = self.gate is not None or self.hazard is not None
        scene = self.model.scene_map(images) if checks else None
        self.peak_novelty = torch.zeros(num_envs)
        if self.gate is not None:
            self.peak_novelty = self.gate.novelty(self.model, images, (self.z_goal, scene))
            self.abstained = self.gate.unfamiliar(self.peak_novelty, "goal")
        if self.hazard is not None:
            inside = self.hazard(self.z_goal, scene).tolist()
            self.abstained = [
                old or (GOAL_IN_HAZARD.format(p=p) if p >= 0.5 else None)
                for old, p in zip(self.abstained, inside, strict=True)
            ]
        self._last, self._surprise = None, []
        self._task_ids = torch.arange(num_envs)
        self.peak_surprise = torch.zeros(num_envs)
        self.mpc.reset(num_envs)
        self._held = None
        self._planned = torch.zeros(num_envs, dtype=torch.bool)
        self._best = torch.full((num_envs,), float("inf"))
        self._since = torch.zeros(num_envs, dtype=torch.long)
        if self.detours is not None:
            self.detours.reset(self.z_goal)
        if self.routes is not None:
            self.routes.reset(self.z_goal, images)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the environments where the ``(E,)`` bool ``mask`` is false (finished episodes)."""
        if self.z_goal is None:
            raise JepalabError("the agent has no goal: call set_goal(goal_obs) first")
        m = torch.as_tensor(np.asarray(mask, bool))
        self.mpc.keep(m)
        self.z_goal = self.z_goal[m]
        self._planned, self._best, self._since = self._planned[m], self._best[m], self._since[m]
        self.abstained = [r for r, k in zip(self.abstained, m.tolist(), strict=True) if k]
        if self._held is not None:
            self._held = self._held[m.numpy()]
        if self._last is not None:
            z, a, scene = self._last
            self._last = (z[m], a[m], None if scene is None else scene[m])
        self._surprise = [e[m] for e in self._surprise]
        self._task_ids = self._task_ids[m]
        if self.detours is not None:
            self.detours.keep(m)
        if self.routes is not None:
            self.routes.keep(m)

    @property
    def deciding(self) -> bool:
        """Whether the next :meth:`act` decides anew (rather than hold the last action)."""
        return self._held is None or self._held_for >= self.frame_skip

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, encoded: tuple[torch.Tensor, torch.Tensor | None] | None = None
    ) -> np.ndarray:
        """Observation(s) -> action(s): ``(H, W, C) -> (A,)`` or ``(E, H, W, C) -> (E, A)``.

        ``encoded``: the ``(E, D)`` embeddings and scene maps of ``obs`` when the caller has
        computed them already (a higher level that looked first), so they are not redone."""
        if self.z_goal is None:
            raise JepalabError("the agent has no goal: call set_goal(goal_obs) first")
        images = self.images(obs)
        if images.shape[0] != self.z_goal.shape[0]:
            raise JepalabError(
                f"got {images.shape[0]} observations for {self.z_goal.shape[0]} goals"
            )
        if self.deciding:
            action = self._decide(images, encoded).numpy().copy()  # not a planner's buffer
            action[[r is not None for r in self.abstained]] = 0.0
            self._held, self._held_for = action, 0
        self._held_for += 1
        return self._held[0].copy() if np.asarray(obs).ndim == 3 else self._held.copy()

    def _decide(
        self, images: torch.Tensor, encoded: tuple[torch.Tensor, torch.Tensor | None] | None
    ) -> torch.Tensor:
        """``(E, H, W, C)`` observations -> ``(E, A)`` actions, by Mode-1 or Mode-2 per env."""
        self.decisions += 1
        z, scene = encoded or (None, None)
        if self.mode == "mode2":
            z = self.model.encode(images) if z is None else z
        elif z is None:  # Mode-1 first: observation to action in one pass
            z, action, spread = self.react(images, self.z_goal)
        else:
            action, spread = self.policy(z, self.z_goal)
        if encoded is None and (self.mode == "mode2" or self.gate is not None):
            scene = self.model.scene_map(images)  # a Mode-1 decision needs none
        self.embedding = z
        if self.gate is not None:
            self._check(images, z, scene)
        plan = torch.full((len(z),), self.mode == "mode2")
        if self.mode == "auto":
            plan = (spread > self.cfg.agent.max_spread) | self._stuck(z)
        if self.mode != "mode1" and plan.any():
            if scene is None and encoded is None:
                scene = self.model.scene_map(images)
            # a warm start is only valid where Mode-2 made the previous decision as well
            goal = self.z_goal if self.routes is None else self.routes.goals(z, images)
            if self.detours is not None:  # while on a detour, its remembered state
                detour = self.detours.goals(z)
                goal = torch.where(self.detours.away[:, None], detour, goal)
            planned = self.mpc.act(z, goal, reset=~self._planned, scene=scene)
            action = planned if plan.all() else torch.where(plan[:, None], planned, action)
        self._planned = plan
        self._last = (z, action, scene)
        n2 = int(plan.sum())
        self.mode_counts["mode2"] += n2
        self.mode_counts["mode1"] += len(z) - n2
        return action

    def _check(self, images: torch.Tensor, z: torch.Tensor, scene: torch.Tensor | None) -> None:
        """Abstain where the start of the task is unfamiliar or the last steps surprising."""
        if self._last is None:  # the first decision of the task: look at where it starts
            novelty = self.gate.novelty(self.model, images, (z, scene))
            self._raise_peak(self.peak_novelty, novelty)
            verdicts = self.gate.unfamiliar(novelty, "start")
        else:
            z_prev, a_prev, scene = self._last
            energy = (self.model.step(z_prev, a_prev, scene) - z).square().sum(-1)
            self._surprise = [*self._surprise, energy][-SURPRISE_WINDOW:]
            if len(self._surprise) < SURPRISE_WINDOW:
                return
            surprise = torch.stack(self._surprise).mean(0)
            self._raise_peak(self.peak_surprise, surprise)
            verdicts = self.gate.surprised(surprise)
        self.abstained = [old or new for old, new in zip(self.abstained, verdicts, strict=True)]

    def _raise_peak(self, peaks: torch.Tensor, scores: torch.Tensor) -> None:
        """Raise the ``(tasks,)`` ``peaks`` of the live environments' tasks to their
        ``(E,)`` ``scores`` where those are higher."""
        peaks[self._task_ids] = torch.maximum(peaks[self._task_ids], scores)

    def _stuck(self, z: torch.Tensor) -> torch.Tensor:
        """``(E,)`` bool: the cost to come has not improved for ``agent.patience`` decisions."""
        critic = self.critic or goal_cost
        cost = critic(z, self.z_goal)
        better = cost < self._best
        self._best = torch.minimum(cost, self._best)
        self._since = torch.where(better, 0, self._since + 1)
        return self._since >= self.cfg.agent.patience

    @property
    def latencies_ms(self) -> list[float]:
        """Milliseconds of every Mode-2 replanning."""
        return self.mpc.latencies_ms


def bounds_for(env) -> ActionBounds:
    """The actions ``env`` accepts: its action space and its norm limit, if it has one."""
    return ActionBounds.from_space(env.action_space, max_norm=getattr(env, "max_action_norm", None))

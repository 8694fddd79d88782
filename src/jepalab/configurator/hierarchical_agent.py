"""The two-level perception-action loop: the high level sets subgoals, the low level reaches them.

At every decision, for each environment, the agent

1. encodes the observation (the low level's Perception);
2. if it has no route, or has not reached its next subgoal for ``hierarchy.stall``
   decisions, asks the :class:`~.configurator.Configurator` for a new route from here.
   A stall means the model imagined a step the world does not allow (through a wall,
   say): the agent remembers that step as blocked for the rest of the episode, so the new
   route goes another way;
3. moves past every subgoal it has reached (within ``hierarchy.reach``);
4. hands the low-level :class:`~jepalab.agent.Agent` the subgoal ``hierarchy.lookahead``
   steps down the route, or the goal itself once the route is used up, and lets it plan.

A route that ends short of the goal (the model knows no way) is followed to its end, then
searched again from there. The agent **abstains** where the search has explored every
state the high-level model can reach without coming near the goal (a sealed room), or
where ``hierarchy.give_up`` searches in a row found the agent no closer to the goal than
it has been, or (with a hazard probe, :class:`~.configurator.Configurator`) where the goal
is in a forbidden region: it then returns zero actions and records why in
:attr:`HierarchicalAgent.abstained`. A goal already
within reach is reached trivially (the low level holds still on it). Episodes end within
their step budget either way: the environment truncates them.

It has the interface of :class:`~jepalab.agent.Agent` (``set_goal``, ``act``, ``keep``,
``decisions``, ``embedding``), so the evaluation loop runs either.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import JepalabError
from .configurator import Configurator
from .subgoals import Route

UNREACHABLE = (
    "goal unreachable: the high-level model reaches every place it can from here, none near "
    "the goal"
)
GAVE_UP = "goal not found: {n} searches in a row brought the agent no closer to the goal"


class HierarchicalAgent:
    """Hands the low-level agent subgoals from the Configurator's route."""

    def __init__(self, configurator: Configurator) -> None:
        self.configurator = configurator
        self.low = configurator.low_agent()
        self.model = configurator.model
        h = configurator.cfg.hierarchy
        if h.give_up < 1:
            raise JepalabError(f"hierarchy.give_up must be at least 1, got {h.give_up}")
        self.lookahead, self.stall, self.give_up = h.lookahead, h.stall, h.give_up
        self.reach, self._distance = configurator.search.reach, configurator.search.distance
        self.searches = 0  # routes asked for
        self.z_goal: torch.Tensor | None = None  # (E, D) the final goals
        self.routes: list[Route | None] = []
        self.abstained: list[str | None] = []  # per environment: why it stopped acting
        self.subgoal: torch.Tensor | None = None  # (E, D) the subgoals handed down last
        self._next: list[int] = []  # per environment: index of the next subgoal on its route
        self._since: list[int] = []  # decisions since that index last advanced
        self._blocked: list[list[tuple[torch.Tensor, torch.Tensor]]] = []  # per env: failed steps
        self._closest: list[float] = []  # per env: the agent's closest approach to the goal
        self._fruitless: list[int] = []  # per env: searches since it last came closer

    @property
    def decisions(self) -> int:
        return self.low.decisions

    @property
    def embedding(self) -> torch.Tensor | None:
        return self.low.embedding

    @property
    def latencies_ms(self) -> list[float]:
        return self.low.latencies_ms

    @property
    def mode_counts(self) -> dict[str, int]:
        return self.low.mode_counts

    def set_goal(self, goal_obs: np.ndarray) -> None:
        """Encode the goal image(s) ``(H, W, C)`` or ``(E, H, W, C)``; routes are searched at
        the first decision, from where the agent then is. Where the low level refuses the
        goal (in a forbidden region), so does this agent."""
        self.low.set_goal(goal_obs)
        self.z_goal = self.low.z_goal.clone()
        num = len(self.z_goal)
        self.routes, self.abstained = [None] * num, list(self.low.abstained)
        self._next, self._since = [0] * num, [0] * num
        self._blocked = [[] for _ in range(num)]
        self._closest, self._fruitless = [float("inf")] * num, [0] * num

    def keep(self, mask: np.ndarray) -> None:
        """Drop the environments where the ``(E,)`` bool ``mask`` is false."""
        self.low.keep(mask)
        keep = np.flatnonzero(np.asarray(mask, bool))
        self.z_goal = self.z_goal[torch.as_tensor(keep)]
        for name in (
            "routes",
            "abstained",
            "_next",
            "_since",
            "_blocked",
            "_closest",
            "_fruitless",
        ):
            setattr(self, name, [getattr(self, name)[i] for i in keep])

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Observation(s) -> action(s): ``(H, W, C) -> (A,)`` or ``(E, H, W, C) -> (E, A)``."""
        if self.z_goal is None:
            raise JepalabError("the agent has no goal: call set_goal(goal_obs) first")
        encoded = self._hand_down(self.low.images(obs)) if self.low.deciding else None
        action = self.low.act(obs, encoded)
        stopped = np.array([reason is not None for reason in self.abstained])
        if stopped.any():
            if action.ndim == 1:
                return np.zeros_like(action)
            action[stopped] = 0.0
        return action

    def _progress(self, e: int, distance: float) -> None:
        """Count searches since environment ``e`` last came closer to its goal (by more
        than ``reach``) than it had ever been."""
        if distance < self._closest[e] - self.reach:
            self._closest[e], self._fruitless[e] = distance, 0
        else:
            self._fruitless[e] += 1

    def _hand_down(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Update every environment's route and give the low level its subgoals; returns
        the embeddings and scene maps of ``images`` for the low level to reuse."""
        if len(images) != len(self.z_goal):
            raise JepalabError(f"got {len(images)} observations for {len(self.z_goal)} goals")
        z = self.model.encode(images)
        scenes = self.model.scene_map(images)
        subgoals = []
        for e in range(len(z)):
            if self.abstained[e] is not None:  # it has answered; it holds still
                subgoals.append(z[e])
                continue
            route = self.routes[e]
            stalled = route is not None and self._since[e] >= self.stall
            dead_end = (
                route is not None and not route.reachable and self._next[e] >= len(route.subgoals)
            )
            if route is None or stalled or dead_end:
                if stalled and self._next[e] < len(route.subgoals):
                    self._blocked[e].append((z[e], route.subgoals[self._next[e]]))
                self._progress(e, float(self._distance(z[e], self.z_goal[e])))
                scene = None if scenes is None else scenes[e : e + 1]
                blocked = self._blocked[e]
                pairs = (
                    tuple(torch.stack(p) for p in zip(*blocked, strict=True)) if blocked else None
                )
                route = self.routes[e] = self.configurator.route(z[e], self.z_goal[e], scene, pairs)
                self._next[e], self._since[e] = 0, 0
                self.searches += 1
                if route.exhausted and not route.reachable:
                    self.abstained[e] = UNREACHABLE
                elif self._fruitless[e] >= self.give_up:
                    self.abstained[e] = GAVE_UP.format(n=self._fruitless[e])
            path = route.subgoals
            self._since[e] += 1
            while (
                self._next[e] < len(path)
                and self._distance(z[e], path[self._next[e]]) <= self.reach
            ):
                self._next[e] += 1
                self._since[e] = 0
            ahead = self._next[e] + self.lookahead - 1
            subgoals.append(path[ahead] if ahead < len(path) else self.z_goal[e])
        self.subgoal = torch.stack(subgoals)
        self.low.z_goal = self.subgoal
        return z, scenes

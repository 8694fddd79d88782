"""The paper's short-term memory: a bounded store of recent experience.

It holds whole episodes of ``(state embedding, action, intrinsic cost)``, each with the goal
embedding it pursued, and hands out random transitions ``(s_t, a_t, c_t, s_{t+1}, done, g)``
for training the critic with temporal-difference targets, and for replay.

Hindsight relabelling (``sample(relabel=p)``): a fraction ``p`` of the transitions get as
goal a state the same episode reached *later*, ``s_j`` with ``j > t``, and their episode
ends where that goal is reached (``done`` when ``j = t + 1``). Every episode, failed or
not, then teaches how to reach the places it went through. The stored cost stays: the
agent records the cost of time, the same whichever goal is pursued (``relabeled`` marks
the transitions for costs that do depend on the goal).

Capacity is counted in transitions. When an added episode would exceed it, the *oldest
whole episodes* are evicted first (first in, first out): what the agent did recently is
what the critic should value, and evicting whole episodes keeps every stored transition's
successor state in memory. An episode longer than the capacity keeps its last
``capacity`` transitions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from ..errors import JepalabError


@dataclass
class Transitions:
    """A batch: ``state (N, D)``, ``action (N, A)``, ``cost (N,)``, ``next_state (N, D)``,
    ``done (N,)`` (1.0 where ``next_state`` is terminal: the goal was reached there),
    ``goal (N, D)`` and ``relabeled (N,)`` bool (the goal is a hindsight one and ``cost``
    is the original goal's)."""

    state: torch.Tensor
    action: torch.Tensor
    cost: torch.Tensor
    next_state: torch.Tensor
    done: torch.Tensor
    goal: torch.Tensor
    relabeled: torch.Tensor


@dataclass
class _Episode:
    states: torch.Tensor  # (T, D)
    actions: torch.Tensor  # (T-1, A)
    costs: torch.Tensor  # (T-1,)
    goal: torch.Tensor  # (D,)
    terminated: bool  # the last state reached the goal (not cut off by the step budget)


@dataclass
class _Flat:
    """The stored episodes concatenated, for vectorised sampling."""

    states: torch.Tensor  # (sum T_e, D)
    actions: torch.Tensor  # (sum T_e - 1, A)
    costs: torch.Tensor  # (sum T_e - 1,)
    goals: torch.Tensor  # (episodes, D)
    terminated: torch.Tensor  # (episodes,) bool
    length: torch.Tensor  # (episodes,) transitions per episode
    first_action: torch.Tensor  # (episodes,) index of each episode's first transition
    first_state: torch.Tensor  # (episodes,) index of each episode's first state
    episode: torch.Tensor  # (sum T_e - 1,) the episode of every transition


class ShortTermMemory:
    def __init__(self, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise JepalabError(f"memory capacity must be at least 1 transition, got {capacity}")
        self.capacity = capacity
        self._episodes: deque[_Episode] = deque()
        self._size = 0
        self._cache: _Flat | None = None
        self.evicted = 0  # episodes evicted so far

    def __len__(self) -> int:
        """Transitions stored."""
        return self._size

    @property
    def episodes(self) -> int:
        return len(self._episodes)

    def add_episode(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        costs: torch.Tensor,
        goal: torch.Tensor | None = None,
        terminated: bool = True,
    ) -> None:
        """Store one episode: ``states (T, D)``, ``actions (T-1, A)``, ``costs (T-1,)``
        (``costs[t]`` is the intrinsic cost of acting ``actions[t]`` from ``states[t]``) and
        the ``(D,)`` goal embedding it pursued (default: its last state).

        ``terminated`` says the last state ended the task (the goal was reached); an episode
        cut off by its step budget is not terminal, and the critic bootstraps past its end.
        """
        states, actions, costs = (torch.as_tensor(x).float() for x in (states, actions, costs))
        goal = states[-1] if goal is None else torch.as_tensor(goal).float()
        if states.ndim != 2 or len(states) < 2:
            raise JepalabError(f"states must be (T, D) with T >= 2, got {tuple(states.shape)}")
        t = len(states) - 1
        if actions.ndim != 2 or len(actions) != t or costs.shape != (t,):
            raise JepalabError(
                f"an episode of {t + 1} states needs actions ({t}, A) and costs ({t},); got "
                f"{tuple(actions.shape)} and {tuple(costs.shape)}"
            )
        if goal.shape != states.shape[1:]:
            raise JepalabError(f"goal must be ({states.shape[1]},), got {tuple(goal.shape)}")
        if self._episodes:
            d, a = self._episodes[0].states.shape[1], self._episodes[0].actions.shape[1]
            if (states.shape[1], actions.shape[1]) != (d, a):
                raise JepalabError(
                    f"memory holds states of dim {d} and actions of dim {a}; got "
                    f"{states.shape[1]} and {actions.shape[1]}"
                )
        for name, x in (("states", states), ("actions", actions), ("costs", costs), ("goal", goal)):
            if not torch.isfinite(x).all():
                raise JepalabError(f"episode {name} contain NaN or inf")
        if t > self.capacity:
            states, actions, costs = (
                states[-self.capacity - 1 :],
                actions[-self.capacity :],
                costs[-self.capacity :],
            )
            t = self.capacity
        while self._size + t > self.capacity:
            self._size -= len(self._episodes.popleft().actions)
            self.evicted += 1
        self._episodes.append(_Episode(states, actions, costs, goal, bool(terminated)))
        self._size += t
        self._cache = None

    def trajectories(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The stored episodes, oldest first, each as ``states (T, D)`` and the actions
        taken between them ``(T-1, A)``: for training a predictor on what the agent did."""
        return [(e.states, e.actions) for e in self._episodes]

    def sample(
        self, batch: int, generator: torch.Generator | None = None, relabel: float = 0.0
    ) -> Transitions:
        """``batch`` transitions drawn uniformly (with replacement) from all stored ones; a
        fraction ``relabel`` of them with a hindsight goal (see the module docstring)."""
        if self._size == 0:
            raise JepalabError("short-term memory is empty: add episodes before sampling")
        if not 0.0 <= relabel <= 1.0:
            raise JepalabError(f"relabel must be a fraction in [0, 1], got {relabel}")
        f = self._flat()
        flat = torch.randint(self._size, (batch,), generator=generator)  # a transition
        ep = f.episode[flat]  # and its episode
        step = flat - f.first_action[ep]
        length = f.length[ep]
        row = f.first_state[ep] + step  # index of s_t among all stored states
        # a later state of the same episode, uniformly among steps t+1 .. T-1
        later = step + 1 + (torch.rand(batch, generator=generator) * (length - step)).long()
        relabeled = torch.rand(batch, generator=generator) < relabel
        last = step == length - 1
        return Transitions(
            state=f.states[row],
            action=f.actions[flat],
            cost=f.costs[flat],
            next_state=f.states[row + 1],
            done=torch.where(relabeled, later == step + 1, last & f.terminated[ep]).float(),
            goal=torch.where(relabeled[:, None], f.states[f.first_state[ep] + later], f.goals[ep]),
            relabeled=relabeled,
        )

    def _flat(self) -> _Flat:
        """All stored episodes as concatenated tensors, rebuilt after every change."""
        if self._cache is None:
            eps = self._episodes
            length = torch.tensor([len(e.actions) for e in eps])
            self._cache = _Flat(
                states=torch.cat([e.states for e in eps]),
                actions=torch.cat([e.actions for e in eps]),
                costs=torch.cat([e.costs for e in eps]),
                goals=torch.stack([e.goal for e in eps]),
                terminated=torch.tensor([e.terminated for e in eps]),
                length=length,
                first_action=length.cumsum(0) - length,
                first_state=(length + 1).cumsum(0) - (length + 1),
                episode=torch.repeat_interleave(torch.arange(len(eps)), length),
            )
        return self._cache

"""The paper's short-term memory: a bounded store of recent experience.

It holds whole episodes of ``(state embedding, action, intrinsic cost)`` and hands out
random transitions ``(s_t, a_t, c_t, s_{t+1}, done)`` for training the critic with
temporal-difference targets, and for replay.

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
    ``done (N,)`` (1.0 where ``next_state`` ends its episode)."""

    state: torch.Tensor
    action: torch.Tensor
    cost: torch.Tensor
    next_state: torch.Tensor
    done: torch.Tensor


class ShortTermMemory:
    def __init__(self, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise JepalabError(f"memory capacity must be at least 1 transition, got {capacity}")
        self.capacity = capacity
        self._episodes: deque[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = deque()
        self._size = 0
        self.evicted = 0  # episodes evicted so far

    def __len__(self) -> int:
        """Transitions stored."""
        return self._size

    @property
    def episodes(self) -> int:
        return len(self._episodes)

    def add_episode(self, states: torch.Tensor, actions: torch.Tensor, costs: torch.Tensor) -> None:
        """Store one episode: ``states (T, D)``, ``actions (T-1, A)``, ``costs (T-1,)``
        (``costs[t]`` is the intrinsic cost of acting ``actions[t]`` from ``states[t]``).
        The episode's last state is terminal."""
        states, actions, costs = (torch.as_tensor(x).float() for x in (states, actions, costs))
        if states.ndim != 2 or len(states) < 2:
            raise JepalabError(f"states must be (T, D) with T >= 2, got {tuple(states.shape)}")
        t = len(states) - 1
        if actions.ndim != 2 or len(actions) != t or costs.shape != (t,):
            raise JepalabError(
                f"an episode of {t + 1} states needs actions ({t}, A) and costs ({t},); got "
                f"{tuple(actions.shape)} and {tuple(costs.shape)}"
            )
        if self._episodes:
            d, a = self._episodes[0][0].shape[1], self._episodes[0][1].shape[1]
            if (states.shape[1], actions.shape[1]) != (d, a):
                raise JepalabError(
                    f"memory holds states of dim {d} and actions of dim {a}; got "
                    f"{states.shape[1]} and {actions.shape[1]}"
                )
        for name, x in (("states", states), ("actions", actions), ("costs", costs)):
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
            self._size -= len(self._episodes.popleft()[1])
            self.evicted += 1
        self._episodes.append((states, actions, costs))
        self._size += t

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Transitions:
        """``batch`` transitions drawn uniformly (with replacement) from all stored ones."""
        if self._size == 0:
            raise JepalabError("short-term memory is empty: add episodes before sampling")
        lengths = torch.tensor([len(a) for _, a, _ in self._episodes])
        ends = lengths.cumsum(0)
        flat = torch.randint(self._size, (batch,), generator=generator)
        ep = torch.searchsorted(ends, flat, right=True)
        step = flat - (ends[ep] - lengths[ep])
        rows = [self._episodes[int(e)] for e in ep]
        state = torch.stack([s[i] for (s, _, _), i in zip(rows, step, strict=True)])
        nxt = torch.stack([s[i + 1] for (s, _, _), i in zip(rows, step, strict=True)])
        action = torch.stack([a[i] for (_, a, _), i in zip(rows, step, strict=True)])
        cost = torch.stack([c[i] for (_, _, c), i in zip(rows, step, strict=True)])
        done = (step == lengths[ep] - 1).float()
        return Transitions(state, action, cost, nxt, done)

"""Planning at the high level: a search over imagined states for a route of subgoals.

Goal distance in embedding space is a good guide inside a room and a bad one across walls:
the closest point to a goal behind a wall is the wall. A sampling planner at the high level
would inherit that greed. Instead the search explores what the high-level world model
says is *reachable*: breadth-first, every imagined state is expanded by a fixed set of
macro-actions (headings at full and half strength) into the states one high-level step
later, and a state in the same ``merge``-sized cell as one already found is the same place. The
explored set grows room by room through the doors the model has learned to pass; the
route is the chain of states that leads to the one nearest the goal. Breadth-first means
that route is the shortest, in high-level steps, to a state within ``reach`` of the goal.

Places are compared along the *place directions* of the embedding
(:attr:`HighLevelModel.basis`: the directions in which the states of one episode differ,
which leaves out how the layout is encoded), ``merge`` and ``reach`` in units of the
model's typical high-level step (:attr:`HighLevelModel.step_size`), so the same settings
fit any embedding scale.

Shapes: ``D`` embedding size, ``A`` action size, ``M`` macro-actions, ``L`` route length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..actor import ActionBounds
from ..errors import JepalabError
from ..world_model.high_level import HighLevelModel


@dataclass
class Route:
    """The high level's answer for one environment.

    ``subgoals`` ``(L, D)``: imagined states one high-level step apart, from the first step
    out of the start to the state nearest the goal (``L = 0`` when the start is already
    within reach). ``distance``: how far that last state is from the goal, in step sizes.
    ``reachable``: whether it is within ``reach``, i.e. the model knows a way to the goal.
    ``explored``: imagined states the search found. ``exhausted``: the search found every
    state the model can reach (nothing new was left to expand) before its limits, so an
    unreachable goal is unreachable under the model, not merely far.
    """

    subgoals: torch.Tensor
    distance: float
    reachable: bool
    explored: int
    exhausted: bool


def macro_actions(
    bounds: ActionBounds, headings: int, strengths: tuple[float, ...]
) -> torch.Tensor:
    """``(M, A)`` macro-actions: for 2-D actions ``headings`` evenly spaced directions, else
    the ``2 A`` signed axes, each at the given fractions of the bound scale, projected into
    ``bounds``."""
    if bounds.dim == 2:
        angle = torch.arange(headings) * (2 * math.pi / headings)
        unit = torch.stack([angle.cos(), angle.sin()], -1)
    else:
        eye = torch.eye(bounds.dim)
        unit = torch.cat([eye, -eye])
    scale = bounds.scale
    return bounds.project(torch.cat([unit * scale * s for s in strengths]))


class SubgoalSearch:
    """Breadth-first search of the high-level model's imagined states.

    Args:
        high: the trained high-level world model.
        bounds: the action bounds; a macro-action is an action held for ``k`` steps.
        headings: directions per strength (2-D actions).
        strengths: fractions of the action scale a macro-action heads with.
        depth: high-level steps the search looks ahead at most.
        merge: the cell size (in step sizes) within which imagined states are one place.
        reach: a state this close to the goal (in step sizes) has reached it.
        max_states: stop growing the explored set past this many states.
    """

    def __init__(
        self,
        high: HighLevelModel,
        bounds: ActionBounds,
        headings: int = 8,
        strengths: tuple[float, ...] = (1.0, 0.5),
        depth: int = 24,
        merge: float = 0.2,
        reach: float = 0.2,
        max_states: int = 2000,
    ) -> None:
        if float(high.step_size) <= 0:
            raise JepalabError("the high-level model is untrained (step_size 0): train it first")
        if depth < 1 or merge <= 0 or reach <= 0 or max_states < 1:
            raise JepalabError(
                f"subgoal search needs depth >= 1, merge > 0, reach > 0 and max_states >= 1, "
                f"got {depth}, {merge}, {reach}, {max_states}"
            )
        self.high, self.depth, self.max_states = high, depth, max_states
        self.unit = float(high.step_size)
        self.merge, self.reach = merge * self.unit, reach * self.unit
        self.macros = macro_actions(bounds, headings, strengths)

    @torch.no_grad()
    def __call__(
        self,
        z0: torch.Tensor,
        goal: torch.Tensor,
        scene: torch.Tensor | None,
        blocked: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Route:
        """The route from ``z0`` ``(D,)`` towards ``goal`` ``(D,)`` in the scene ``(1, ...)``
        (or ``None`` for models that read no scene).

        ``blocked`` ``(from (B, D), to (B, D))``: steps the agent has tried and failed to make
        (the model imagined a way where there is none, e.g. through a wall). The search will
        not step to within ``2 * merge`` of ``to[b]`` from within one step size of
        ``from[b]``; the same place may still be reached from elsewhere."""
        states = z0[None]  # (S, D) every state found, in the order found
        parent = [-1]
        frontier = torch.zeros(1, dtype=torch.long)
        to_goal = self.distance(states, goal)
        exhausted = False
        for _ in range(self.depth):
            if bool((to_goal <= self.reach).any()) or len(states) >= self.max_states:
                break
            m = len(self.macros)
            src = frontier.repeat_interleave(m)
            nxt = self.high.step(states[src], self.macros.repeat(len(frontier), 1), scene)
            new = self._novel(nxt, states)
            if blocked is not None and new.numel():
                new = new[~self._blocked(states[src[new]], nxt[new], blocked)]
            if not new.numel():
                exhausted = True
                break
            states = torch.cat([states, nxt[new]])
            parent += src[new].tolist()
            frontier = torch.arange(len(states) - len(new), len(states))
            to_goal = self.distance(states, goal)
        # The first state found within reach is on a shortest route; otherwise the nearest.
        within = (to_goal <= self.reach).nonzero()
        end = int(within[0]) if len(within) else int(to_goal.argmin())
        chain = []
        while end > 0:
            chain.append(end)
            end = parent[end]
        best = float(to_goal[chain[0]] if chain else to_goal[0]) / self.unit
        return Route(
            subgoals=states[chain[::-1]] if chain else states[:0],
            distance=best,
            reachable=best <= self.reach / self.unit,
            explored=len(states),
            exhausted=exhausted,
        )

    def _blocked(
        self, src: torch.Tensor, dst: torch.Tensor, blocked: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """``(N,)`` bool: which steps ``src (N, D) -> dst (N, D)`` a blocked step forbids."""
        near_from = self.distance(src[:, None], blocked[0][None]) <= self.unit  # (N, B)
        near_to = self.distance(dst[:, None], blocked[1][None]) <= 2 * self.merge
        return (near_from & near_to).any(dim=1)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(..., D), (..., D) -> (...)``: how far apart two states are as places (along
        the place directions; differences in how the layout is encoded do not count)."""
        return ((a - b) @ self.high.basis).norm(dim=-1)

    def _cells(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` states -> ``(N,)`` integer ids of their ``merge``-sized cells along the
        place directions (:attr:`HighLevelModel.basis`)."""
        cell = torch.floor(z @ self.high.basis / self.merge).long()  # (N, d)
        key = torch.zeros(len(z), dtype=torch.long)
        for c in cell.unbind(-1):  # mix the coordinates into one id
            key = key * 1_000_003 + c
        return key

    def _novel(self, candidates: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Indices of the ``(C, D)`` candidates in cells no ``(K, D)`` known state occupies,
        one per cell (the first)."""
        keys = self._cells(candidates)
        fresh = (~torch.isin(keys, self._cells(known))).nonzero().squeeze(1)
        _, inverse = torch.unique(keys[fresh], return_inverse=True)
        first = torch.full((int(inverse.max()) + 1 if len(inverse) else 0,), len(fresh))
        first = first.scatter_reduce(0, inverse, torch.arange(len(fresh)), "amin")
        return fresh[first]

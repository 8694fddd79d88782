"""The Actor's Mode-1: a fast reactive policy distilled from Mode-2's plans.

Mode-2 deliberates: it searches action sequences through the world model (tens of
milliseconds). Mode-1 reacts: one forward pass maps ``(state, goal)`` embeddings to an
action. It is trained by imitation of the actions Mode-2 chose (stored in the short-term
memory) and is an ensemble of ``members`` small MLPs evaluated as one batched matrix
product, so it also says how *unsure* it is: the spread of its members' actions. The agent
acts with Mode-1 and hands over to Mode-2 where that spread is large (the paper's
"system 1 / system 2").

:func:`react` is a whole Mode-1 decision, observation to action; :func:`compiled_react` is
the same function through ``torch.compile`` (``agent.compile``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm import tqdm

from ..ensemble import EnsembleMLP, bootstrap_mean
from ..errors import JepalabError
from ..memory import ShortTermMemory
from ..training.checkpoint import load_state, read_checkpoint, save_checkpoint
from .bounds import ActionBounds

if TYPE_CHECKING:
    from ..world_model import WorldModel


class Mode1Policy(nn.Module):
    """``pi(s, g)``: ``(N, D), (N, D) -> (N, A)`` actions inside ``bounds``, with the
    ``(N,)`` spread of the ensemble in units of the action scale.

    Each member is an MLP on ``[s, g, s - g]``; members differ by their initialisation and
    their bootstrap of the training batches.
    """

    def __init__(
        self,
        embed_dim: int,
        bounds: ActionBounds,
        hidden: int = 256,
        members: int = 5,
    ) -> None:
        super().__init__()
        if members < 1:
            raise JepalabError(f"the Mode-1 policy needs at least one member, got {members}")
        self.embed_dim, self.bounds, self.members = embed_dim, bounds, members
        self.net = EnsembleMLP(members, (3 * embed_dim, hidden, hidden, bounds.dim))
        self.register_buffer("scale", bounds.scale.clone())

    def members_actions(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``(M, N, A)`` unprojected action of every member."""
        if state.shape[-1] != self.embed_dim or goal.shape != state.shape or state.dim() != 2:
            raise JepalabError(
                f"the Mode-1 policy takes states and goals of shape (N, {self.embed_dim}); "
                f"got {tuple(state.shape)} and {tuple(goal.shape)}"
            )
        return self.net(torch.cat([state, goal, state - goal], -1)) * self.scale

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ensemble-mean action, projected into the bounds, and its ``(N,)`` spread."""
        acts = self.members_actions(state, goal)
        spread = (acts.std(0, correction=0) / self.scale).norm(dim=-1)
        return self.bounds.project(acts.mean(0)), spread


def react(
    model: WorldModel, policy: Mode1Policy, images: torch.Tensor, z_goal: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A Mode-1 decision in one forward pass: uint8 ``(E, H, W, C)`` observations and
    ``(E, D)`` goal embeddings -> the ``(E, D)`` embeddings, ``(E, A)`` actions and ``(E,)``
    spread of :meth:`Mode1Policy.forward`."""
    z = model.encode(images)
    action, spread = policy(z, z_goal)
    return z, action, spread


@functools.cache
def compiled_react() -> Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """:func:`react` through ``torch.compile``, made on first use (importing the compiler
    takes seconds). At one environment a decision is ~50 small operations, and the Python
    between them costs about as much as the arithmetic: ``cpp_wrapper`` runs the whole graph
    from C++ (0.34 -> 0.23 ms a decision in a loop of Mode-1 decisions on 2 cores; 10% less
    when each few decisions follow Mode-2's, whose work has filled the caches). Compiles on
    the first call (~30 s, a C++ compiler is needed) and once more for batches; the result
    is shared by every agent."""
    compiled = torch.compile(react, dynamic=True, options={"cpp_wrapper": True})

    def run(*args: torch.Tensor | nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        try:
            return compiled(*args)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise JepalabError(
                f"agent.compile: torch.compile could not build Mode-1 (it needs a working C++ "
                f"compiler); set agent.compile false to run it uncompiled. {e}"
            ) from e

    return run


def distill(
    policy: Mode1Policy,
    memory: ShortTermMemory,
    steps: int = 5000,
    batch: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Imitate the actions stored in ``memory`` (Mode-2's choices, for the episode's own goal);
    returns the loss every 100 steps. Each member sees its own bootstrap of every batch."""
    if len(memory) == 0:
        raise JepalabError("the Mode-1 policy cannot train: the short-term memory is empty")
    if steps < 1 or batch < 1:
        raise JepalabError(f"Mode-1 steps and batch must be positive, got {steps} and {batch}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    policy.train()
    for step in tqdm(range(steps), desc="mode-1", disable=not progress):
        b = memory.sample(batch, gen)
        pred = policy.members_actions(b.state, b.goal)  # (M, N, A)
        err = ((pred - b.action) / policy.scale).square().sum(-1)  # (M, N)
        loss = bootstrap_mean(err, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            losses.append(loss.item())
    policy.eval()
    return losses


POLICY_KIND = "mode1-policy"


def save_policy(policy: Mode1Policy, path: str | Path) -> None:
    """Write the Mode-1 policy to a safetensors checkpoint (atomically)."""
    b = policy.bounds
    meta = {
        "kind": POLICY_KIND,
        "embed_dim": policy.embed_dim,
        "hidden": policy.net.layers[0].weight.shape[-1],
        "members": policy.members,
        "bounds": {"low": list(b.low), "high": list(b.high), "max_norm": b.max_norm},
    }
    save_checkpoint(path, policy.state_dict(), meta)


def load_policy(path: str | Path) -> Mode1Policy:
    """Read a policy written by :func:`save_policy` (eval mode)."""
    tensors, meta = read_checkpoint(path, POLICY_KIND)
    b = meta["bounds"]
    bounds = ActionBounds(tuple(b["low"]), tuple(b["high"]), b["max_norm"])
    policy = Mode1Policy(int(meta["embed_dim"]), bounds, int(meta["hidden"]), int(meta["members"]))
    load_state(policy, tensors, path)
    return policy.eval()

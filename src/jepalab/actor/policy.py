"""The Actor's Mode-1: a fast reactive policy distilled from Mode-2's plans.

Mode-2 deliberates: it searches action sequences through the world model (tens of
milliseconds). Mode-1 reacts: one forward pass maps ``(state, goal)`` embeddings to an
action. It is trained by imitation of the actions Mode-2 chose (stored in the short-term
memory) and is an ensemble of ``members`` small MLPs evaluated as one batched matrix
product, so it also says how *unsure* it is: the spread of its members' actions. The agent
acts with Mode-1 and hands over to Mode-2 where that spread is large (the paper's
"system 1 / system 2").

:func:`react` is a whole Mode-1 decision, observation to action; :func:`compiled_react` is
the same decision compiled ahead of time (``agent.compile``).
"""

from __future__ import annotations

import tempfile
import weakref
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
        hidden: int = 128,
        members: int = 5,
    ) -> None:
        super().__init__()
        if members < 1 or hidden < 1:
            raise JepalabError(
                f"the Mode-1 policy needs at least one member and a positive width, got "
                f"{members} members of width {hidden}"
            )
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


Decision = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class _Reflex(nn.Module):
    """:func:`react` of one model and policy as a module, the form ``torch.export`` takes."""

    def __init__(self, model: WorldModel, policy: Mode1Policy) -> None:
        super().__init__()
        self.model, self.policy = model, policy

    def forward(
        self, images: torch.Tensor, z_goal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return react(self.model, self.policy, images, z_goal)


# policy -> (its model, the weights' versions, the compiled decision); weak: no leak
_COMPILED: weakref.WeakKeyDictionary[Mode1Policy, tuple[weakref.ref, tuple[int, ...], Decision]]
_COMPILED = weakref.WeakKeyDictionary()


def compiled_react(model: WorldModel, policy: Mode1Policy) -> Decision:
    """:func:`react` of ``model`` and ``policy`` compiled ahead of time (``torch.export``,
    then AOTInductor): ``(images, z_goal) -> (z, action, spread)`` run from one C++ library,
    with no Python between the ~50 small operations of a decision and no guards to check
    before them (one environment, 2 cores, in turns with Mode-2: 0.34-0.39 ms eager,
    0.15-0.19 ms compiled). Needs a C++ compiler; building takes ~25 s (seconds from
    inductor's disk cache) and is done once per model, policy and weights, for any batch
    size. The weights are compiled in as they are now: train the policy first."""
    versions = tuple(t._version for m in (model, policy) for t in (*m.parameters(), *m.buffers()))
    cached = _COMPILED.get(policy)
    if cached is not None and cached[0]() is model and cached[1] == versions:
        return cached[2]
    images = torch.zeros(2, *model.obs_shape, dtype=torch.uint8)
    goals = torch.zeros(2, model.embed_dim)
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        try:
            program = torch.export.export(
                _Reflex(model, policy).eval(), (images, goals), dynamic_shapes=({0: batch},) * 2
            )
            package = torch._inductor.aoti_compile_and_package(
                program,
                package_path=str(Path(tmp) / "mode1.pt2"),
                # its own loops are too small to share between threads (the convolutions
                # and matrix products it calls still use them all): 0.19 against 0.26 ms
                inductor_configs={"cpp.threads": 1},
            )
            run = torch._inductor.aoti_load_package(package)
        except Exception as e:  # any failure here means: no compiled Mode-1
            raise JepalabError(
                f"agent.compile: could not build Mode-1 ahead of time (AOTInductor needs a "
                f"working C++ compiler); set agent.compile false to run it uncompiled. {e}"
            ) from e
    obs_shape, dim = tuple(model.obs_shape), model.embed_dim

    def decide(
        images: torch.Tensor, z_goal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # the library reads its inputs unchecked: a wrong shape would be read out of bounds
        if (
            images.shape[1:] != obs_shape
            or images.dtype != torch.uint8
            or z_goal.shape != (images.shape[0], dim)
        ):
            raise JepalabError(
                f"compiled Mode-1 takes uint8 images (E, {obs_shape}) and goals (E, {dim}); "
                f"got {images.dtype} {tuple(images.shape)} and {tuple(z_goal.shape)}"
            )
        return run(images.contiguous(), z_goal.contiguous())

    _COMPILED[policy] = (weakref.ref(model), versions, decide)
    return decide


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

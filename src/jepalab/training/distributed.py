"""Who am I in a (possibly) multi-process run, how many threads may I use, and the few
collectives data-parallel training needs.

Single-process runs are rank 0 of 1 and never touch ``torch.distributed``. Under
``torchrun`` the usual environment variables say otherwise; logging and checkpointing ask
:attr:`DistInfo.is_main` so that only one process writes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist
from torch import nn

from ..errors import JepalabError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistInfo:
        env = os.environ
        return cls(
            rank=int(env.get("RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
        )


def set_threads(requested: int, dist: DistInfo) -> int:
    """Give each process its share of the cores (oversubscribing costs 2-5x on a CPU)."""
    n = requested or max(1, (os.cpu_count() or 1) // dist.local_world_size)
    torch.set_num_threads(n)
    return n


def init_process_group(dist: DistInfo, device: torch.device) -> bool:
    """Join the job's process group (``torchrun`` sets ``MASTER_ADDR``/``MASTER_PORT``):
    gloo for CPU tensors, NCCL for CUDA ones. Returns whether this call created the group,
    and so must destroy it; a group the caller made is used as it is."""
    if dist.world_size == 1 or tdist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL works on the current device
    backend = "nccl" if device.type == "cuda" else "gloo"
    tdist.init_process_group(backend, rank=dist.rank, world_size=dist.world_size)
    return True


def _collective(op: Callable[..., Any], *args: Any) -> Any:
    """Run one collective. When a peer dies, gloo and NCCL raise here with a long
    traceback on every survivor; say it in one line instead (the peer's own error, and
    torchrun's summary, tell why)."""
    try:
        return op(*args)
    except RuntimeError as e:
        # gloo: "[.../pair.cc:553] Connection closed by peer [ip]:port. This is typically ..."
        msg = re.sub(r"^\[[^\]]*\]\s*", "", str(e)).split(". ")[0]
        detail = msg.splitlines()[0][:160] if msg else type(e).__name__
        raise JepalabError(
            f"rank {tdist.get_rank()}: lost contact with another process of this job, "
            f"which failed or was killed ({detail})"
        ) from None


def barrier() -> None:
    _collective(tdist.barrier)


class _GatherBatch(torch.autograd.Function):
    """Every rank's ``x``, concatenated in rank order along dim 0. Backward sums the
    gradients of all ranks' losses and hands each rank its own rows."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(tdist.get_world_size())]
        _collective(tdist.all_gather, parts, x)
        ctx.rows = slice(tdist.get_rank() * len(x), (tdist.get_rank() + 1) * len(x))
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        _collective(tdist.all_reduce, grad)
        return grad[ctx.rows]


@torch.compiler.disable  # collectives inside a compiled loss: run this part eagerly
def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """``x (b, ...)`` on each of W ranks -> ``(W * b, ...)``, differentiable."""
    return _GatherBatch.apply(x)


def broadcast_modules(modules: Iterable[nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    for module in modules:
        for tensor in module.state_dict().values():  # views of the live storage
            _collective(tdist.broadcast, tensor, 0)


def average_gradients(params: list[torch.Tensor], world_size: int) -> None:
    """Replace each gradient by its mean over the ranks, in one flat all-reduce.

    Every rank runs the same code on the same modules, so the parameters without a
    gradient (``None``) are the same on every rank and are skipped alike."""
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    _collective(tdist.all_reduce, flat)  # gloo has no AVG: sum, then divide
    flat /= world_size
    for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(mean.view_as(g))


def mean_over_ranks(
    values: dict[str, float], world_size: int, device: torch.device
) -> dict[str, float]:
    """The mean of each named scalar over the ranks (every rank must call this)."""
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    _collective(tdist.all_reduce, t)
    return dict(zip(values, (t / world_size).tolist(), strict=True))

"""Who am I in a (possibly) multi-process run, and how many threads may I use?

Single-process runs are rank 0 of 1. Under ``torchrun`` the usual environment variables
say otherwise; logging and checkpointing ask :attr:`DistInfo.is_main` so that only one
process writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


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

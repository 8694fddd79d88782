"""Receding-horizon control: plan, execute the first actions, replan from where the world is."""

from __future__ import annotations

import time

import torch

from ..errors import ConfigError, JepalabError
from .planner import Planner


class MPC:
    """Model-predictive control around a :class:`Planner`, warm-started from its last plan.

    Every ``replan_every`` calls :meth:`act` plans anew, seeded with the previous plan
    shifted left by the steps executed since and padded with zero actions; in between it
    returns the next actions of the stored plan. The wall-clock time of every replan is
    appended to :attr:`latencies_ms`.
    """

    def __init__(self, planner: Planner, replan_every: int = 1) -> None:
        if not 1 <= replan_every <= planner.config.horizon:
            raise ConfigError(
                f"replan_every must be in [1, horizon={planner.config.horizon}], got {replan_every}"
            )
        self.planner = planner
        self.replan_every = replan_every
        self.latencies_ms: list[float] = []
        self._num_envs: int | None = None
        self._plan: torch.Tensor | None = None  # (E, H, A)
        self._executed = 0  # actions of the stored plan returned so far

    def reset(self, num_envs: int) -> None:
        """Forget all plans; the next :meth:`act` plans from scratch for ``num_envs`` envs."""
        self._num_envs = num_envs
        self._plan = None
        self._executed = 0

    def keep(self, mask: torch.Tensor) -> None:
        """Continue with only the environments where the ``(E,)`` bool ``mask`` is true.

        Finished episodes leave the batch, so they cost no more planning; the others keep
        their warm starts.
        """
        if self._num_envs is not None and tuple(mask.shape) != (self._num_envs,):
            raise JepalabError(f"keep needs an ({self._num_envs},) mask, got {tuple(mask.shape)}")
        self._num_envs = int(mask.sum())
        if self._plan is not None:
            self._plan = self._plan[mask]

    def act(
        self,
        z0: torch.Tensor,
        z_goal: torch.Tensor,
        reset: torch.Tensor | None = None,
        scene: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The ``(E, A)`` next actions from ``(E, D)`` current and goal embeddings.

        Args:
            reset: optional ``(E,)`` bool mask of environments whose episode has just
                restarted: their warm start is dropped and every environment replans now.
            scene: ``(E, ...)`` scene maps of the current observations, for world models
                that read one (see :meth:`Planner.plan`).
        """
        num_envs = z0.shape[0]
        if self._num_envs is not None and num_envs != self._num_envs:
            raise JepalabError(
                f"MPC was reset for {self._num_envs} environments but got {num_envs}; "
                "call reset(num_envs) first"
            )
        self._num_envs = num_envs
        if reset is not None and tuple(reset.shape) != (num_envs,):
            raise JepalabError(f"reset must be an ({num_envs},) mask, got {tuple(reset.shape)}")
        restarted = reset is not None and bool(reset.any())
        if self._plan is None or restarted or self._executed >= self.replan_every:
            self._replan(z0, z_goal, reset if restarted else None, scene)
        action = self._plan[:, self._executed].clone()
        self._executed += 1
        return action

    def _replan(
        self,
        z0: torch.Tensor,
        z_goal: torch.Tensor,
        reset: torch.Tensor | None,
        scene: torch.Tensor | None,
    ) -> None:
        init = None
        if self._plan is not None:
            done = self._executed
            init = torch.cat([self._plan[:, done:], torch.zeros_like(self._plan[:, :done])], dim=1)
            if reset is not None:
                init = init.masked_fill(reset.to(torch.bool)[:, None, None], 0.0)
        start = time.perf_counter()
        plan = self.planner.plan(z0, z_goal, init, scene).actions
        if plan.is_cuda:  # CUDA runs asynchronously: wait, or the time measures only launches
            torch.cuda.synchronize(plan.device)
        self.latencies_ms.append((time.perf_counter() - start) * 1000)
        self._plan = plan
        self._executed = 0

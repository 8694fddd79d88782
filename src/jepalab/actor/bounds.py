"""The set of actions the Actor may choose from: a box, optionally intersected with a ball.

Planners sample and optimise freely, then :meth:`ActionBounds.project` maps every candidate
back into the feasible set, so anything a planner returns can be sent to the environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from gymnasium import spaces

from ..errors import JepalabError


@dataclass(frozen=True)
class ActionBounds:
    """Per-dimension limits ``low <= a <= high`` and an optional L2 limit ``||a|| <= max_norm``.

    With ``max_norm`` the box must contain the origin, so that shrinking a vector towards the
    origin keeps it inside the box and :meth:`project` lands in the intersection of both.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    max_norm: float | None = None

    def __post_init__(self) -> None:
        # Accept any sequence (list, numpy array) but store plain floats: hashable and YAML-able.
        low, high = tuple(map(float, self.low)), tuple(map(float, self.high))
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if not low or len(low) != len(high):
            raise JepalabError(
                f"action bounds need low and high of the same non-zero length, "
                f"got {len(low)} and {len(high)}"
            )
        if not all(math.isfinite(v) for v in low + high):
            raise JepalabError(f"action bounds must be finite, got low={low} high={high}")
        if not all(lo < hi for lo, hi in zip(low, high, strict=True)):
            raise JepalabError(f"action bounds need low < high, got low={low} high={high}")
        if self.max_norm is not None:
            if not (math.isfinite(self.max_norm) and self.max_norm > 0):
                raise JepalabError(f"max_norm must be positive and finite, got {self.max_norm}")
            if not all(lo <= 0 <= hi for lo, hi in zip(low, high, strict=True)):
                raise JepalabError("max_norm needs a box that contains the origin")
        # the box as (A,) tensors, made once: projecting is on every planner's hot path
        object.__setattr__(self, "_box", (torch.tensor(low), torch.tensor(high)))

    @classmethod
    def from_space(cls, space: spaces.Box, max_norm: float | None = None) -> ActionBounds:
        """Bounds of a one-dimensional Gymnasium ``Box`` action space."""
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise JepalabError(f"action bounds need a one-dimensional Box space, got {space}")
        return cls(tuple(space.low.tolist()), tuple(space.high.tolist()), max_norm)

    @property
    def dim(self) -> int:
        """The action size ``A``."""
        return len(self.low)

    @property
    def scale(self) -> torch.Tensor:
        """``(A,)`` half-widths of the box, capped by ``max_norm``: a natural noise std."""
        half = (torch.tensor(self.high) - torch.tensor(self.low)) / 2
        return half if self.max_norm is None else half.clamp(max=self.max_norm)

    def project(self, a: torch.Tensor) -> torch.Tensor:
        """Clamp ``(..., A)`` actions to the box, then shrink those longer than ``max_norm``."""
        low, high = self._box
        a = a.clamp(low.to(a), high.to(a))
        if self.max_norm is None:
            return a
        norm = torch.linalg.vector_norm(a, dim=-1, keepdim=True)
        return a * (self.max_norm / norm.clamp(min=self.max_norm))

    def contains(self, a: torch.Tensor, atol: float = 1e-5) -> bool:
        """Whether every ``(..., A)`` action is feasible up to ``atol``."""
        low, high = self._box
        inside = (a >= low.to(a) - atol) & (a <= high.to(a) + atol)
        if self.max_norm is not None:
            norm = torch.linalg.vector_norm(a, dim=-1, keepdim=True)
            inside &= norm <= self.max_norm + atol
        return bool(inside.all())

"""What every format reader hands to :func:`jepalab.data.formats.convert`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from jepalab.errors import DataError


@dataclass
class SourceEpisode:
    """One episode as a source stores it, frames not yet resized.

    Attributes:
        where: the file (and episode) it comes from, for error messages.
        index: the episode's index in the source; it becomes the episode seed.
        frames: ``(n, H, W, 3)`` uint8 RGB chunks in order, read lazily; they must be
            consumed before the next episode is asked for.
        actions: ``(L - 1, A)`` or ``(L, A)`` numbers for the episode's ``L`` frames.
        states: ``(L, S)`` numbers, or ``None``.
    """

    where: str
    index: int
    frames: Iterator[np.ndarray]
    actions: np.ndarray
    states: np.ndarray | None = None


@dataclass
class Source:
    """A dataset opened by a reader: its ``name`` and its episodes, read lazily in order."""

    name: str
    episodes: Iterator[SourceEpisode]


def action_matrix(actions: np.ndarray, where: str) -> np.ndarray:
    """Numeric actions ``(T,)`` or ``(T, A)`` as ``(T, A)``; anything else is refused."""
    if not (np.issubdtype(actions.dtype, np.number) or actions.dtype == bool):
        raise DataError(f"{where}: actions have dtype {actions.dtype}; expected numbers")
    if actions.ndim == 1:
        actions = actions[:, None]
    if actions.ndim != 2:
        raise DataError(f"{where}: actions have shape {actions.shape}; expected (T, A) or (T,)")
    return actions

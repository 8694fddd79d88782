"""What every format reader hands to :func:`jepalab.data.formats.convert`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


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

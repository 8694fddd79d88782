"""What every format reader hands to :func:`jepalab.data.formats.convert`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object stored in ``path``."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read as JSON: {err}") from err
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object")
    return value

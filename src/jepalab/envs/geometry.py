"""Continuous 2-D geometry of walls made of axis-aligned rectangles.

Coordinates are pixels: ``x`` is the column, ``y`` the row, and pixel centres sit at
integer coordinates. A rectangle ``(x0, y0, x1, y1)`` covering pixel columns ``a..b`` and
rows ``c..d`` is ``(a - 0.5, c - 0.5, b + 0.5, d + 0.5)``.

The agent is a disc of some radius. Instead of testing a disc against rectangles, every
rectangle is inflated by the radius and the disc's centre is treated as a point; inflating
gives square corners, which is a slightly conservative but simple and exact-to-reason model.
Movement is resolved one axis at a time (x, then y) with an exact segment/interval test per
axis, so a long step can never tunnel through a thin wall and a diagonal push into a wall
slides along it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: How far short of an inflated wall a blocked move stops, so the agent is strictly outside.
CONTACT_GAP = 1e-3

Rect = tuple[float, float, float, float]


def pixel_rect(col0: int, row0: int, col1: int, row1: int) -> Rect:
    """The rectangle covering pixel columns ``col0..col1`` and rows ``row0..row1`` inclusive."""
    return (col0 - 0.5, row0 - 0.5, col1 + 0.5, row1 + 0.5)


def border_rects(width: int, height: int, thickness: int) -> list[Rect]:
    """Four walls ``thickness`` pixels thick around a ``width`` x ``height`` image."""
    right, bottom = width - 1, height - 1
    return [
        pixel_rect(0, 0, right, thickness - 1),
        pixel_rect(0, bottom - thickness + 1, right, bottom),
        pixel_rect(0, 0, thickness - 1, bottom),
        pixel_rect(right - thickness + 1, 0, right, bottom),
    ]


def _sweep(start: float, step: float, walls: list[tuple[float, float]]) -> float:
    """Move a point along one axis from ``start`` by ``step``.

    ``walls`` are the ``(lo, hi)`` extents on this axis of the walls that overlap the path
    on the other axis. A wall the point is already inside does not block, so a point that
    somehow ended up inside can still leave.
    """
    end = start + step
    for lo, hi in walls:
        if step > 0 and lo >= start:
            end = min(end, max(start, lo - CONTACT_GAP))
        elif step < 0 and hi <= start:
            end = max(end, min(start, hi + CONTACT_GAP))
    return end


def move(
    pos: Sequence[float] | np.ndarray,
    delta: Sequence[float] | np.ndarray,
    rects: Sequence[Rect],
    radius: float,
) -> np.ndarray:
    """Move a disc of ``radius`` centred at ``pos`` by ``delta``, stopping at walls.

    The x component is applied first, then the y component; each stops
    :data:`CONTACT_GAP` short of the first wall (inflated by ``radius``) in its way.

    Args:
        pos: ``(2,)`` centre ``(x, y)``.
        delta: ``(2,)`` displacement ``(dx, dy)``.
        rects: ``K`` walls ``(x0, y0, x1, y1)``.
        radius: the disc's radius.

    Returns:
        ``(2,)`` float64: the new centre.
    """
    # Plain Python: with a handful of walls it is several times faster than numpy.
    walls = [(x0 - radius, y0 - radius, x1 + radius, y1 + radius) for x0, y0, x1, y1 in rects]
    x, y = float(pos[0]), float(pos[1])
    x = _sweep(x, float(delta[0]), [(x0, x1) for x0, y0, x1, y1 in walls if y0 < y < y1])
    y = _sweep(y, float(delta[1]), [(y0, y1) for x0, y0, x1, y1 in walls if x0 < x < x1])
    return np.array([x, y])


def is_free(pos: Sequence[float] | np.ndarray, rects: Sequence[Rect], radius: float) -> bool:
    """Whether a disc of ``radius`` centred at ``pos`` ``(2,)`` overlaps no wall's interior."""
    x, y = float(pos[0]), float(pos[1])
    return not any(
        x0 - radius < x < x1 + radius and y0 - radius < y < y1 + radius for x0, y0, x1, y1 in rects
    )


def rasterize(rects: Sequence[Rect], shape: tuple[int, int]) -> np.ndarray:
    """A boolean ``(H, W)`` mask of the pixels whose centres lie inside any rectangle."""
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in rects:
        # Pixel centre c is inside when x0 < c < x1.
        c0, c1 = max(0, math.floor(x0) + 1), min(width, math.ceil(x1))
        r0, r1 = max(0, math.floor(y0) + 1), min(height, math.ceil(y1))
        mask[r0:r1, c0:c1] = True
    return mask

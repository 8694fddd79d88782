"""Small statistics for reporting: confidence intervals and latency percentiles."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate (well behaved near 0 and 1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentiles(values: list[float], qs: tuple[float, ...] = (50, 95)) -> list[float]:
    if not values:
        return [float("nan")] * len(qs)
    return [float(np.percentile(values, q)) for q in qs]

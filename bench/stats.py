"""Small statistics helpers; stdlib only so worker processes import nothing heavy."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), the same definition numpy uses by default."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """p50/p99 plus the extremes; p99 of fewer than 100 samples is close to the max, and the n says so."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median over repeated runs, ignoring runs that produced no figure."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None

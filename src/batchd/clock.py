"""The wall clock in AWS's unit: epoch milliseconds, as every timestamp of the API is."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000

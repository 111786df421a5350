"""timeout: how long one attempt of a job may run before Batch stops it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchd.errors import ClientException


def check_timeout(timeout: Mapping[str, Any] | None, minimum: int) -> None:
    """`minimum` is the server's shortest attempt (AWS: 60 seconds; tests may serve with less)."""
    seconds = (timeout or {}).get("attemptDurationSeconds")
    if seconds is not None and seconds < minimum:
        raise ClientException(f"timeout.attemptDurationSeconds must be at least {minimum}, got {seconds}.")

"""retryStrategy: whether a failed attempt is tried again (SPEC §9, AWS's evaluateOnExit rules)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any


def _matches(pattern: str | None, value: str) -> bool:
    # AWS patterns are literal text with an optional trailing `*`; fnmatch on the whole value does that.
    return pattern is None or fnmatchcase(value, pattern)


def should_retry(
    strategy: Mapping[str, Any] | None,
    attempts_made: int,
    exit_code: int | None,
    reason: str | None,
    status_reason: str,
) -> bool:
    """True when another attempt is owed: attempts remain and no evaluateOnExit rule says EXIT.

    The first rule whose given conditions all match decides; when none matches, the job is retried.
    """
    if not strategy or attempts_made >= int(strategy.get("attempts") or 1):
        return False
    for rule in strategy.get("evaluateOnExit") or []:
        if (
            _matches(rule.get("onExitCode"), "" if exit_code is None else str(exit_code))
            and _matches(rule.get("onReason"), reason or "")
            and _matches(rule.get("onStatusReason"), status_reason)
        ):
            return str(rule.get("action", "")).upper() == "RETRY"
    return True

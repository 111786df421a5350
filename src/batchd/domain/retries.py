"""retryStrategy: whether a failed attempt is tried again (docs/api.md, Job statuses and statusReason: Retries
and timeouts)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from batchd.errors import ClientException

MIN_ATTEMPTS, MAX_ATTEMPTS = 1, 10
MAX_RULES = 5
MAX_PATTERN = 512
ACTIONS = ("RETRY", "EXIT")


def check_retry_strategy(strategy: Mapping[str, Any] | None) -> None:
    """A retryStrategy AWS would accept: 1 to 10 attempts, up to 5 evaluateOnExit rules."""
    if not strategy:
        return
    attempts = strategy.get("attempts")
    if attempts is not None and not MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS:
        raise ClientException(
            f"retryStrategy.attempts must be between {MIN_ATTEMPTS} and {MAX_ATTEMPTS}, got {attempts}."
        )
    rules = strategy.get("evaluateOnExit") or []
    if len(rules) > MAX_RULES:
        raise ClientException(f"retryStrategy.evaluateOnExit may hold at most {MAX_RULES} entries.")
    for rule in rules:
        action = str(rule.get("action", ""))
        # AWS reads the action in any case ("The values aren't case sensitive").
        if action.upper() not in ACTIONS:
            raise ClientException(
                f"retryStrategy.evaluateOnExit action must be RETRY or EXIT, got '{action}'."
            )
        for key in ("onStatusReason", "onReason", "onExitCode"):
            if len(str(rule.get(key, ""))) > MAX_PATTERN:
                raise ClientException(
                    f"retryStrategy.evaluateOnExit {key} must be at most {MAX_PATTERN} characters."
                )


def registered_retry_strategy(strategy: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy as RegisterJobDefinition stores it: AWS gives evaluateOnExit actions back lower-case."""
    registered = dict(strategy)
    if strategy.get("evaluateOnExit"):
        registered["evaluateOnExit"] = [
            {**rule, "action": str(rule["action"]).lower()} if "action" in rule else dict(rule)
            for rule in strategy["evaluateOnExit"]
        ]
    return registered


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

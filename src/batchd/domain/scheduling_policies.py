"""Fair-share scheduling policies: the limits AWS documents for a policy and for the share identifiers and
priorities of the jobs of a fair-share queue (docs/api.md, Scheduling policies)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batchd.errors import ClientException

# The resource kind, as it appears in ARNs and as the store files it.
SP = "scheduling-policy"

MAX_SHARE_DECAY_SECONDS = 604_800  # one week
MAX_COMPUTE_RESERVATION = 99
MAX_SHARES = 500
MAX_SHARE_IDENTIFIER = 255
MIN_WEIGHT, MAX_WEIGHT = 0.0001, 999.9999
MAX_SCHEDULING_PRIORITY = 9999
# AWS documents "255 alphanumeric characters"; hyphens and underscores are accepted too.
SHARE_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,255}")


def _integer(policy: Mapping[str, Any], member: str, maximum: int) -> int:
    value = policy.get(member)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ClientException(
            f"fairsharePolicy.{member} must be an integer from 0 to {maximum}, got {value}."
        )
    return value


def _share_identifier(value: Any, member: str, *, prefix_allowed: bool) -> str:
    text = value if isinstance(value, str) else ""
    body = text[:-1] if prefix_allowed and text.endswith("*") else text
    if not SHARE_IDENTIFIER.fullmatch(body):
        wildcard = ", optionally followed by '*' for a prefix" if prefix_allowed else ""
        raise ClientException(
            f"{member} '{str(value)[:300]}' is invalid: it must be 1 to {MAX_SHARE_IDENTIFIER} letters, "
            f"digits, hyphens or underscores{wildcard}."
        )
    return text


def fairshare_policy(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """A fairsharePolicy checked against AWS's limits, with AWS's defaults filled in (0, 0, [])."""
    policy = policy or {}
    decay = _integer(policy, "shareDecaySeconds", MAX_SHARE_DECAY_SECONDS)
    reservation = _integer(policy, "computeReservation", MAX_COMPUTE_RESERVATION)
    shares = policy.get("shareDistribution") or []
    if not isinstance(shares, list) or not all(isinstance(entry, Mapping) for entry in shares):
        raise ClientException(
            "fairsharePolicy.shareDistribution must be a list of {shareIdentifier, weightFactor}."
        )
    if len(shares) > MAX_SHARES:
        raise ClientException(
            f"fairsharePolicy.shareDistribution may hold at most {MAX_SHARES} entries, got {len(shares)}."
        )
    distribution: list[dict[str, Any]] = []
    for entry in shares:
        identifier = _share_identifier(
            entry.get("shareIdentifier"),
            "fairsharePolicy.shareDistribution shareIdentifier",
            prefix_allowed=True,
        )
        share: dict[str, Any] = {"shareIdentifier": identifier}
        weight = entry.get("weightFactor")
        if weight is not None:
            # A weight of 0 would make a share's deficit 0 forever: it would take everything. NaN fails too.
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not (MIN_WEIGHT <= weight <= MAX_WEIGHT)
            ):
                raise ClientException(
                    f"The weightFactor of share {identifier} must be from {MIN_WEIGHT} to {MAX_WEIGHT}, "
                    f"got {weight}."
                )
            share["weightFactor"] = float(weight)
        distribution.append(share)
    _check_no_overlap([s["shareIdentifier"] for s in distribution])
    return {"shareDecaySeconds": decay, "computeReservation": reservation, "shareDistribution": distribution}


def _check_no_overlap(identifiers: list[str]) -> None:
    """No identifier twice, and no prefix entry (`A*`) covering another entry (`A1`, `AB*`), as AWS says."""
    seen: set[str] = set()
    for identifier in identifiers:
        if identifier in seen:
            raise ClientException(
                f"fairsharePolicy.shareDistribution names share {identifier} more than once."
            )
        seen.add(identifier)
    prefixes = [i[:-1] for i in identifiers if i.endswith("*")]
    for identifier in identifiers:
        for prefix in prefixes:
            if identifier != prefix + "*" and identifier.startswith(prefix):
                raise ClientException(
                    f"fairsharePolicy.shareDistribution entries overlap: {prefix}* also covers {identifier}. "
                    "Share identifiers in a policy must not overlap."
                )


def check_job_share_identifier(value: Any) -> str:
    """The shareIdentifier of a submitted job: one share, never a prefix."""
    return _share_identifier(value, "shareIdentifier", prefix_allowed=False)


def check_scheduling_priority(value: Any, member: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCHEDULING_PRIORITY:
        raise ClientException(
            f"{member} must be an integer from 0 to {MAX_SCHEDULING_PRIORITY}, got {value}."
        )
    return value

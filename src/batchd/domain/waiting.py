"""Why a RUNNABLE job waits, in AWS's statusReason vocabulary, and the job queues' jobStateTimeLimitActions
(docs/jobs.md, Why a job waits and Time-limit actions). Pure: no I/O, no clock.

AWS's user guide (Jobs stuck in a RUNNABLE status) gives each blocked-job reason as `CODE - text`; the
CODE is what a jobStateTimeLimitAction's `reason` names, and a job cancelled by one reads
"Canceled by JobStateTimeLimit action due to reason: CODE".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchd.domain.jobs import REASON_TOO_BIG, quota_reason
from batchd.domain.placement import Cause, account_of_queue
from batchd.errors import ClientException

CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
CE_MAX_RESOURCE = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
JOB_RESOURCE_REQUIREMENT = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
# batchd's own codes, in the same CODE - text form; no time-limit action can name them (AWS's cannot).
SHARE = "SHARE:FAIR_SHARE_LIMIT"
CONSUMABLE = "RESOURCE:CONSUMABLE_RESOURCE_UNAVAILABLE"

REASON_NO_VCPUS = (
    f"{CAPACITY} - No compute environment of the job queue has enough free vCPUs for the job; it starts "
    "when running jobs free them."
)
REASON_NO_MEMORY = (
    f"{CAPACITY} - The host does not have enough free memory for the job; it starts when running jobs "
    "free it."
)
REASON_CONSUMABLE = (
    f"{CONSUMABLE} - A consumable resource the job needs has less available than the job asks for; it "
    "starts when running jobs give it back (or its total is raised)."
)
REASON_SHARE = (
    f"{SHARE} - The job's share identifier has its part of the fair-share queue (by the scheduling "
    "policy's weights or compute reservation); other shares' jobs go first."
)

# The reasons AWS allows in a jobStateTimeLimitAction: the blocked-job reasons its user guide lists as
# usable with jobStateTimeLimitActions for ECS, EKS and Fargate queues.
ACTION_REASONS = (CAPACITY, CE_MAX_RESOURCE, JOB_RESOURCE_REQUIREMENT)
MIN_MAX_TIME_SECONDS = 600
MAX_MAX_TIME_SECONDS = 86_400


def reason_for(cause: str, queue_arn: str) -> str:
    """The statusReason of a job that waits for `cause` (a placement.Cause)."""
    if cause == Cause.TOO_BIG:
        return REASON_TOO_BIG
    if cause == Cause.NO_MEMORY:
        return REASON_NO_MEMORY
    if cause == Cause.SHARE:
        return REASON_SHARE
    if cause == Cause.QUOTA:
        return quota_reason(account_of_queue(queue_arn))
    if cause == Cause.CONSUMABLE:
        return REASON_CONSUMABLE
    return REASON_NO_VCPUS


def canceled_reason(reason: str) -> str:
    """What AWS writes on a job a time-limit action cancelled."""
    return f"Canceled by JobStateTimeLimit action due to reason: {reason}"


def reason_code(status_reason: str | None) -> str | None:
    """`CODE` of a `CODE - text` statusReason; None for any other reason."""
    if not status_reason:
        return None
    code, sep, _ = status_reason.partition(" - ")
    return code if sep and ":" in code else None


@dataclass(frozen=True, slots=True)
class TimeLimit:
    reason: str
    max_time_seconds: int


def check_time_limit_actions(actions: Any, min_seconds: int = MIN_MAX_TIME_SECONDS) -> list[dict[str, Any]]:
    """A jobStateTimeLimitActions list checked as AWS documents it; ClientException if bad.

    `min_seconds` is AWS's 600-second floor, lowered only by `--min-timeout-seconds` (for tests)."""
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise ClientException("jobStateTimeLimitActions must be a list.")
    floor = min(MIN_MAX_TIME_SECONDS, max(1, min_seconds))
    seen: set[str] = set()
    checked = []
    for entry in actions:
        reason, state, seconds, action = (
            entry.get("reason"), entry.get("state"), entry.get("maxTimeSeconds"), entry.get("action")
        )  # fmt: skip
        if reason not in ACTION_REASONS:
            raise ClientException(
                f"jobStateTimeLimitActions reason {reason!r} is not supported: use one of "
                f"{', '.join(ACTION_REASONS)}."
            )
        if reason in seen:
            raise ClientException(f"jobStateTimeLimitActions names reason {reason} more than once.")
        seen.add(reason)
        if state != "RUNNABLE":
            raise ClientException(f"jobStateTimeLimitActions state must be RUNNABLE, got {state!r}.")
        if action != "CANCEL":
            raise ClientException(
                f"jobStateTimeLimitActions action must be CANCEL (the only action for ECS, EKS and "
                f"Fargate queues), got {action!r}."
            )
        if not isinstance(seconds, int) or not floor <= seconds <= MAX_MAX_TIME_SECONDS:
            raise ClientException(
                f"jobStateTimeLimitActions maxTimeSeconds must be between {floor} and "
                f"{MAX_MAX_TIME_SECONDS}, got {seconds!r}."
            )
        checked.append({"reason": reason, "state": state, "maxTimeSeconds": seconds, "action": action})
    return checked


def time_limits(queue_detail: Mapping[str, Any]) -> dict[str, TimeLimit]:
    """A stored queue's time-limit actions by reason code."""
    entries: Sequence[Mapping[str, Any]] = queue_detail.get("jobStateTimeLimitActions") or ()
    return {
        e["reason"]: TimeLimit(e["reason"], int(e["maxTimeSeconds"]))
        for e in entries
        if e.get("action") == "CANCEL" and e.get("state") == "RUNNABLE"
    }

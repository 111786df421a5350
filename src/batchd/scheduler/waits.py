"""The scheduler's memory of why RUNNABLE jobs wait: the reason last written on each, and the few jobs a
queue's jobStateTimeLimitActions may cancel (docs/jobs.md, Why a job waits and Time-limit actions).

Only jobs whose reason's code some action of their queue names are tracked for the time limits, so a
pass checks those and never scans the RUNNABLE backlog. The time waited counts from when the job got
its reason, kept with the job (`REASON_SINCE` in its run state) so it survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batchd.domain.waiting import TimeLimit, reason_code

# Where a RUNNABLE job's record keeps when its statusReason was set, in ms since the epoch.
REASON_SINCE = "reasonSince"


@dataclass(frozen=True, slots=True)
class Told:
    queue_arn: str
    reason: str
    since_ms: int


class Waits:
    def __init__(self) -> None:
        self.told: dict[str, Told] = {}
        self._limits: dict[str, dict[str, TimeLimit]] = {}
        # Jobs whose reason code a time-limit action of their queue names → when they are due.
        self._tracked: dict[str, tuple[int, str]] = {}

    def clear(self) -> None:
        self.told.clear()
        self._tracked.clear()

    def set_limits(self, limits: Mapping[str, dict[str, TimeLimit]]) -> None:
        """The queues' time-limit actions; a change (UpdateJobQueue) rebuilds the tracked set."""
        wanted = {arn: dict(by_reason) for arn, by_reason in limits.items() if by_reason}
        if wanted == self._limits:
            return
        self._limits = wanted
        self._tracked.clear()
        for job_id in self.told:
            self._track(job_id)

    def remember(self, job_id: str, queue_arn: str, reason: str, since_ms: int) -> None:
        self.told[job_id] = Told(queue_arn, reason, since_ms)
        self._tracked.pop(job_id, None)
        self._track(job_id)

    def forget(self, job_id: str) -> None:
        self.told.pop(job_id, None)
        self._tracked.pop(job_id, None)

    def _track(self, job_id: str) -> None:
        told = self.told[job_id]
        code = reason_code(told.reason)
        limit = None if code is None else self._limits.get(told.queue_arn, {}).get(code)
        if limit is not None:
            self._tracked[job_id] = (told.since_ms + limit.max_time_seconds * 1000, limit.reason)

    def due(self, now_ms: int) -> list[tuple[str, str]]:
        """(job, the action's reason) for each tracked job that has waited its queue's maxTimeSeconds."""
        return [(job_id, reason) for job_id, (at, reason) in self._tracked.items() if at <= now_ms]

    @property
    def tracked(self) -> int:
        return len(self._tracked)

"""Ending jobs from the API side: failing queued jobs at once, asking the scheduler to stop placed ones."""

from __future__ import annotations

from typing import Any

from batchd.domain.jobs import JobStatus
from batchd.service.common import now_ms
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore


def fail_queued(store: SqliteStore, job: JobRecord, reason: str, **flags: bool) -> None:
    """SUBMITTED/PENDING/RUNNABLE → FAILED with `reason`; dependents are failed by the scheduler."""
    expected = job.status
    job.status = JobStatus.FAILED
    job.doc.update(status="FAILED", statusReason=reason, stoppedAt=now_ms(), **flags)
    store.update_job(job, expected)


def request_stop(store: SqliteStore, job: JobRecord, reason: str, **flags: bool) -> None:
    """Records that a STARTING/RUNNING job must be stopped; the scheduler stops it and settles it FAILED."""
    run: dict[str, Any] = dict(job.run or {})
    if "stop" not in run:
        run["stop"] = {"reason": reason, "at": now_ms()}
    job.run = run
    job.doc.update(flags)
    store.update_job(job, job.status)

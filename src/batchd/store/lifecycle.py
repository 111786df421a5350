"""Ending jobs from outside their attempt: failing queued jobs at once, asking for placed ones to stop.

The API (CancelJob, TerminateJob, DeleteJobQueue, DeleteComputeEnvironment) and the scheduler (a failed
dependency) end jobs through these functions only, so each kind of ending has one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchd.clock import now_ms
from batchd.domain.jobs import ACTIVE, QUEUED, JobStatus
from batchd.store.records import JobRecord, children_of
from batchd.store.sqlite import SqliteStore


@dataclass
class Endings:
    """What the scheduler must hear about: jobs ended here, and placed jobs to stop."""

    ended: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)


def fail_queued(store: SqliteStore, job: JobRecord, reason: str, **flags: bool) -> None:
    """SUBMITTED/PENDING/RUNNABLE → FAILED with `reason`; dependents are failed by the scheduler."""
    expected = job.status
    job.move_to(JobStatus.FAILED, statusReason=reason, stoppedAt=now_ms(), **flags)
    store.update_job(job, expected)


def request_stop(store: SqliteStore, job: JobRecord, reason: str, **flags: bool) -> None:
    """Records that a STARTING/RUNNING job must be stopped; the scheduler stops it and settles it FAILED.

    The request is stored with the job, so whoever runs the attempt sees it, after a restart too."""
    run: dict[str, Any] = dict(job.run or {})
    if "stop" not in run:
        run["stop"] = {"reason": reason, "at": now_ms()}
    job.run = run
    job.doc.update(flags)
    store.update_job(job, job.status)


def end_job(store: SqliteStore, job: JobRecord, reason: str, *, terminate: bool, endings: Endings) -> None:
    """CancelJob (`terminate=False`) or TerminateJob on one job, in the caller's transaction.

    A queued job fails at once; a placed one is asked to stop when terminated and left to run when
    cancelled, as AWS does. On an array parent it acts on every unfinished child; the parent then ends
    when its last child has (or at once, if its children were never created)."""
    flag = "isTerminated" if terminate else "isCancelled"
    if job.array_size is not None:
        summary = store.array_summary(job.job_id)
        if summary is None or not summary.spawned:
            if job.status.is_queued:
                fail_queued(store, job, reason, **{flag: True})
                endings.ended.append(job.job_id)
            return
        if job.status.is_terminal:
            return
        job.doc[flag] = True
        store.update_job(job, job.status)
        for child in store.children(job.job_id, QUEUED | (ACTIVE if terminate else frozenset())):
            end_job(store, child, reason, terminate=terminate, endings=endings)
        # Children not created yet are created ended, so the parent still ends with its last child.
        rest = children_of(job, range(summary.spawned, summary.size))
        stopped_at = now_ms()
        for child in rest:
            child.move_to(JobStatus.FAILED, statusReason=reason, stoppedAt=stopped_at, **{flag: True})
        if rest:
            store.spawn_children(job, rest, stopped_at)
            # The last child ends the parent; the parent's id decides what waits on any of these (N_TO_N).
            endings.ended.extend([rest[-1].job_id, job.job_id])
        return
    if job.status.is_queued:
        fail_queued(store, job, reason, **{flag: True})
        endings.ended.append(job.job_id)
    elif terminate and not job.status.is_terminal:
        request_stop(store, job, reason, isTerminated=True)
        endings.stop.append(job.job_id)

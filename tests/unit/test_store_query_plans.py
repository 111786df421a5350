"""Every job query the API and the scheduler run is served from an index, never a scan of all jobs.

A scan costs what is stored, so it would make SubmitJob, DescribeJobs and ListJobs slower as jobs pile
up. The store is seeded with enough jobs for SQLite's planner to weigh its choices as it does in use.
The statements are captured as SQLite really runs them (parameters expanded) from a real store file,
then SQLite's own planner is asked how it runs each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchd.domain.jobs import JobStatus
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/q"
JD = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/d:1"
ACTIVE = (JobStatus.STARTING, JobStatus.RUNNING)


def _job(
    i: int, status: JobStatus, *, size: int | None = None, parent: JobRecord | None = None, index: int = 0
) -> JobRecord:
    job_id = f"{parent.job_id}:{index}" if parent else f"job-{i}"
    doc: dict[str, object] = {"jobId": job_id, "status": status.value}
    if size is not None:
        doc["arrayProperties"] = {"size": size}
    return JobRecord(
        job_id=job_id,
        account=ACCOUNT,
        queue_arn=QUEUE,
        name=f"name-{i}",
        jd_arn=JD,
        status=status,
        created_at=1_700_000_000_000 + i,
        doc=doc,
        depends_on=[f"job-{i - 1}"] if i and not parent else [],
        share_identifier=None if parent else f"team{'AB'[i % 2]}",
        array_parent=parent.job_id if parent else None,
        array_index=index if parent else None,
    )


def _move_child(store: SqliteStore) -> None:
    child = store.get_job("job-5000:0")
    assert child is not None
    child.move_to(JobStatus.STARTING)
    store.update_job(child, JobStatus.RUNNABLE)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    statuses = list(JobStatus)
    with store.transaction():
        for i in range(2000):
            store.insert_job(_job(i, statuses[i % len(statuses)]))
        # An array of 50, and some history.
        parent = _job(5000, JobStatus.SUBMITTED, size=50)
        store.insert_job(parent)
        children = [_job(i, JobStatus.RUNNABLE, parent=parent, index=i) for i in range(50)]
        store.spawn_children(parent, children, 1)
        for job in store.jobs_in_status((JobStatus.SUBMITTED,), limit=300):
            job.move_to(JobStatus.PENDING)
            store.update_job(job, JobStatus.SUBMITTED)
    yield store
    store.close()


# What each caller asks of the store: the scheduler's passes and recovery, and the job operations.
QUERIES: dict[str, Callable[[SqliteStore], object]] = {
    "jobs_in_status SUBMITTED": lambda s: s.jobs_in_status((JobStatus.SUBMITTED,)),
    "jobs_in_status active": lambda s: s.jobs_in_status(ACTIVE),
    "jobs_in_queue": lambda s: s.jobs_in_queue(ACCOUNT, QUEUE, (JobStatus.RUNNABLE, JobStatus.RUNNING)),
    "get_job": lambda s: s.get_job("job-7", ACCOUNT),
    # As many ids as DescribeJobs takes: with a long IN list SQLite's planner prefers other indexes.
    "get_jobs": lambda s: s.get_jobs(ACCOUNT, [f"job-{i}" for i in range(100)]),
    "existing_job_ids": lambda s: s.existing_job_ids(ACCOUNT, [f"job-{i}" for i in range(100)]),
    "job_statuses": lambda s: s.job_statuses(["job-1", "job-404"]),
    "dependencies": lambda s: s.dependencies("job-3"),
    "dependents": lambda s: s.dependents("job-3"),
    "list_jobs by status": lambda s: s.list_jobs(
        ACCOUNT, QUEUE, status=JobStatus.RUNNABLE, name_prefix=None, name=None, jd_arn=None,
        jd_arn_prefix=None, created_before=None, created_after=None, after=(1_700_000_000_100, "job-100"),
        limit=100,
    ),
    "list_jobs by name": lambda s: s.list_jobs(
        ACCOUNT, QUEUE, status=None, name_prefix="name-1", name=None, jd_arn=None, jd_arn_prefix=None,
        created_before=None, created_after=1_700_000_000_000, after=None, limit=100,
    ),
    "list_jobs by share identifier": lambda s: s.list_jobs(
        ACCOUNT, QUEUE, status=None, name_prefix=None, name=None, jd_arn=None, jd_arn_prefix=None,
        created_before=None, created_after=None, after=(1_700_000_000_100, "job-100"), limit=100,
        share_prefix="team",
    ),
    "list_jobs by exact share identifier": lambda s: s.list_jobs(
        ACCOUNT, QUEUE, status=JobStatus.RUNNABLE, name_prefix=None, name=None, jd_arn=None,
        jd_arn_prefix=None, created_before=None, created_after=None, after=None, limit=100, share="teamA",
    ),
    "list_jobs of an array": lambda s: s.list_jobs(
        ACCOUNT, None, array_parent="job-5000", status=JobStatus.RUNNABLE, name_prefix=None, name=None,
        jd_arn=None, jd_arn_prefix=None, created_before=None, created_after=None, after=(10, "job-5000:10"),
        limit=100,
    ),
    "children": lambda s: s.children("job-5000", (JobStatus.RUNNABLE, JobStatus.RUNNING)),
    "array_summaries": lambda s: s.array_summaries([f"job-{i}" for i in range(100)]),
    "events_after": lambda s: s.events_after(100, account=ACCOUNT),
    "events_after of a job": lambda s: s.events_after(0, job_id="job-7", account=ACCOUNT),
    "a child's change of status": lambda s: _move_child(s),
    "purge_finished": lambda s: s.purge_finished(1_700_000_000_050),
}  # fmt: skip


@pytest.mark.parametrize("name", list(QUERIES))
def test_job_queries_use_an_index(store: SqliteStore, tmp_path: Path, name: str) -> None:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    with store.transaction():
        QUERIES[name](store)
    store._db.set_trace_callback(None)
    reads = [s for s in statements if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE", "INSERT")]
    assert reads, f"{name} ran no statement"

    planner = sqlite3.connect(tmp_path / "state.db")
    try:
        for sql in reads:
            plan = [row[3] for row in planner.execute(f"EXPLAIN QUERY PLAN {sql}")]
            # An index searched by account alone reads every job of the account: a scan all the same.
            scans = [
                step for step in plan
                if "job" in step and (step.startswith("SCAN") or step.endswith("(account=?)"))
            ]  # fmt: skip
            assert not scans, f"{name}: {sql}\n  is planned as {plan}"
    finally:
        planner.close()

"""python -m bench.transitions: the store's CPU cost of one job status change, alone.

End-to-end figures on a small shared machine drift by more than the few percent a store change costs, so
this isolates it: N jobs inserted into a fresh SQLite store, then each moved SUBMITTED → RUNNABLE →
STARTING, one transaction per change as the scheduler writes them, timed with process CPU time. Run it
against another batchd source tree by putting that tree first on PYTHONPATH, e.g. a worktree of an older
commit: `PYTHONPATH=/tmp/old/src python -m bench.transitions`. The status is set on the record directly
(not through a newer helper), so the same script runs against older trees.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import batchd
from batchd.domain.jobs import JobStatus
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:batch:us-east-1:{ACCOUNT}"


def _doc(job_id: str) -> dict[str, Any]:
    """A job document of the size SubmitJob writes for the bench's jobs."""
    return {
        "jobArn": f"{PREFIX}:job/{job_id}", "jobName": "bench", "jobId": job_id,
        "jobQueue": f"{PREFIX}:job-queue/q", "status": "SUBMITTED", "attempts": [], "createdAt": 1,
        "dependsOn": [], "jobDefinition": f"{PREFIX}:job-definition/d:1", "parameters": {},
        "container": {"image": "busybox", "vcpus": 1, "memory": 16, "command": ["true"], "volumes": [],
                      "environment": [], "mountPoints": [], "ulimits": []},
        "tags": {}, "platformCapabilities": [], "propagateTags": False, "isCancelled": False,
        "isTerminated": False,
    }  # fmt: skip


def one_run(jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite3")
        ids = [str(uuid.uuid4()) for _ in range(jobs)]
        started = time.process_time()
        for job_id in ids:
            with store.transaction():
                queue, definition = f"{PREFIX}:job-queue/q", f"{PREFIX}:job-definition/d:1"
                store.insert_job(
                    JobRecord(
                        job_id, ACCOUNT, queue, "bench", definition, JobStatus.SUBMITTED, 1, _doc(job_id)
                    )
                )
        inserted = time.process_time()
        for target, expected in (
            (JobStatus.RUNNABLE, JobStatus.SUBMITTED),
            (JobStatus.STARTING, JobStatus.RUNNABLE),
        ):
            for job_id in ids:
                with store.transaction():
                    job = store.get_job(job_id)
                    assert job is not None
                    job.status = target
                    job.doc["status"] = target.value
                    store.update_job(job, expected)
        moved = time.process_time()
        store.close()
    return {
        "insert_us": (inserted - started) / jobs * 1e6,
        "transition_us": (moved - inserted) / (2 * jobs) * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transitions", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per run (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="runs, each on a fresh store (default 5)")
    args = parser.parse_args(argv)
    runs = [one_run(args.jobs) for _ in range(args.runs)]
    for run in runs:
        print(json.dumps({k: round(v, 1) for k, v in run.items()}))
    medians = {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}
    print(json.dumps({"source": str(Path(batchd.__file__).parent), "median": medians}))


if __name__ == "__main__":
    main()

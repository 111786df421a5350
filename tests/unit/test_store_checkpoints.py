"""The WAL is checkpointed into the database file by the store's own thread, not by COMMITs."""

from __future__ import annotations

import time
from pathlib import Path

from batchd.domain.jobs import JobStatus
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore


def test_committed_pages_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    try:
        empty = path.stat().st_size
        for batch in range(20):
            with store.transaction():
                for i in range(100):
                    job_id = f"job-{batch}-{i}"
                    store.insert_job(JobRecord(
                        job_id=job_id, account="123456789012", queue_arn="q", name=job_id, jd_arn="d",
                        status=JobStatus.SUBMITTED, created_at=i, doc={"jobId": job_id, "pad": "x" * 500},
                    ))  # fmt: skip
        # COMMITs leave pages in the WAL; only a checkpoint writes them into the database file.
        deadline = time.monotonic() + 15
        while path.stat().st_size <= empty and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.stat().st_size > empty + 1_000_000, "no checkpoint copied the WAL into the database"
    finally:
        store.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0

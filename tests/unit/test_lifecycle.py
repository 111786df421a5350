"""store/lifecycle.end_job on an array whose children are only partly created."""

from __future__ import annotations

from pathlib import Path

from batchd.domain.jobs import JobStatus
from batchd.store.lifecycle import Endings, end_job
from batchd.store.records import JobRecord, children_of
from batchd.store.sqlite import SqliteStore

ACCOUNT = "123456789012"
ARN = f"arn:aws:batch:us-east-1:{ACCOUNT}:job/p"


def test_cancel_mid_creation_creates_the_rest_ended_and_names_the_parent(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        doc = {
            "jobId": "p",
            "jobArn": ARN,
            "status": "SUBMITTED",
            "arrayProperties": {"size": 5},
            "dependsOn": [],
        }
        parent = JobRecord("p", ACCOUNT, "q", "n", "d", JobStatus.SUBMITTED, 1, doc)
        with store.transaction():
            store.insert_job(parent)
            store.spawn_children(parent, children_of(parent, range(2)), 1)
            parent.move_to(JobStatus.PENDING)
            store.update_job(parent, JobStatus.SUBMITTED)
        endings = Endings()
        with store.transaction():
            end_job(store, parent, "stop", terminate=False, endings=endings)
        # The two existing children, the last one created ended (it ends the parent), and the parent:
        # its id is how the scheduler finds what waits on any child it never ran (N_TO_N).
        assert endings.ended == ["p:0", "p:1", "p:4", "p"]
        summary = store.array_summary("p")
        assert summary is not None and summary.spawned == 5 and summary.counts["FAILED"] == 5
        last = store.get_job("p:4")
        assert last is not None and last.status == JobStatus.FAILED
        assert last.doc["statusReason"] == "stop" and last.doc["isCancelled"] is True
    finally:
        store.close()

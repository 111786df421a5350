"""A job's tags belong to TagResource once it is submitted: a status change written from a document read
before the tags changed keeps the stored tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchd.domain.jobs import JobStatus
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore

S = JobStatus
ACCOUNT = "123456789012"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    yield store
    store.close()


def submitted(store: SqliteStore, tags: dict[str, str] | None) -> JobRecord:
    doc: dict[str, object] = {"jobId": "a", "status": "SUBMITTED"}
    if tags is not None:
        doc["tags"] = tags
    with store.transaction():
        store.insert_job(JobRecord("a", ACCOUNT, "q", "n", "d", S.SUBMITTED, 1, doc))
    record = store.get_job("a")
    assert record is not None
    return record


def test_a_stale_document_does_not_undo_tags(store: SqliteStore) -> None:
    held = submitted(store, {"at": "submit"})  # as the scheduler holds a job across an executor call
    with store.transaction():
        store.set_job_tags("a", {"at": "tag-resource"})
    held.move_to(S.RUNNABLE, statusReason="placed")
    store.update_job(held, S.SUBMITTED)
    stored = store.get_job("a")
    assert stored is not None
    assert stored.doc["tags"] == {"at": "tag-resource"}
    assert stored.doc["statusReason"] == "placed" and stored.status == S.RUNNABLE


def test_a_job_without_tags_keeps_its_document(store: SqliteStore) -> None:
    held = submitted(store, None)
    held.move_to(S.RUNNABLE)
    store.update_job(held, S.SUBMITTED)
    stored = store.get_job("a")
    assert stored is not None and "tags" not in stored.doc and stored.status == S.RUNNABLE

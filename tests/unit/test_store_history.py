"""The store's one write path for status changes: compare-and-set, one event, an array's counts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchd.domain.jobs import JobStatus
from batchd.store.errors import Conflict
from batchd.store.records import JobRecord
from batchd.store.schema import SCHEMA_VERSION, V1, V2, V3
from batchd.store.sqlite import SqliteStore

S = JobStatus
ACCOUNT = "123456789012"


def job(job_id: str, status: JobStatus = S.SUBMITTED, **extra: object) -> JobRecord:
    doc: dict[str, object] = {"jobId": job_id, "status": status.value}
    size = extra.pop("size", None)
    if size is not None:
        doc["arrayProperties"] = {"size": size}
    return JobRecord(job_id, ACCOUNT, "q", "n", "d", status, 1, doc, **extra)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    yield store
    store.close()


def test_each_status_change_appends_one_event(store: SqliteStore) -> None:
    woken: list[int] = []
    store.add_event_listener(lambda: woken.append(store.last_event_seq()))
    with store.transaction():
        store.insert_job(job("a"))
    assert store.events_after(0) == [] and woken == []  # no event for a submission, as on AWS
    record = store.get_job("a")
    assert record is not None
    record.move_to(S.RUNNABLE)
    store.update_job(record, S.SUBMITTED)
    record.doc["statusReason"] = "waiting"
    store.update_job(record, S.RUNNABLE)  # no change of status: no event
    events = store.events_after(0)
    assert [(e.job_id, e.doc["status"]) for e in events] == [("a", "RUNNABLE")]
    assert woken == [events[0].seq]
    record.move_to(S.STARTING)
    with pytest.raises(Conflict):
        store.update_job(record, S.SUBMITTED)
    assert len(store.events_after(0)) == 1  # the lost compare-and-set wrote nothing


def test_a_rolled_back_change_leaves_no_event(store: SqliteStore) -> None:
    with store.transaction():
        store.insert_job(job("a"))
    record = store.get_job("a")
    assert record is not None
    with pytest.raises(RuntimeError), store.transaction():
        record.move_to(S.PENDING)
        store.update_job(record, S.SUBMITTED)
        raise RuntimeError("the pass failed part-way")
    assert store.events_after(0) == []
    stored = store.get_job("a")
    assert stored is not None and stored.status == S.SUBMITTED


def test_events_narrowed_by_job_and_account(store: SqliteStore) -> None:
    with store.transaction():
        store.insert_job(job("a"))
        store.insert_job(job("b"))
    for job_id in ("a", "b", "a"):
        record = store.get_job(job_id)
        assert record is not None
        before = record.status
        record.move_to(S.PENDING if before == S.SUBMITTED else S.RUNNABLE)
        store.update_job(record, before)
    assert [e.job_id for e in store.events_after(0)] == ["a", "b", "a"]
    only_a = store.events_after(0, job_id="a")
    assert [e.doc["status"] for e in only_a] == ["PENDING", "RUNNABLE"]
    assert store.events_after(only_a[0].seq, job_id="a") == only_a[1:]
    assert store.events_after(0, account="000000000000") == []


def test_an_array_keeps_its_childrens_counts(store: SqliteStore) -> None:
    with store.transaction():
        store.insert_job(job("p", size=3))
    parent = store.get_job("p")
    assert parent is not None and parent.array_size == 3
    summary = store.array_summary("p")
    assert summary is not None and not summary.spawned and summary.ended == 0
    kids = [job(f"p:{i}", S.RUNNABLE if i else S.PENDING, array_parent="p", array_index=i) for i in range(3)]
    with store.transaction():
        store.spawn_children(parent, kids, 5)
    summary = store.array_summary("p")
    assert summary is not None and summary.spawned
    assert (summary.counts["PENDING"], summary.counts["RUNNABLE"]) == (1, 2)
    # RUNNABLE children's events are written with them; the PENDING one has none yet.
    assert sorted(e.job_id for e in store.events_after(0)) == ["p:1", "p:2"]
    child = store.get_job("p:1")
    assert child is not None and child.array_parent == "p" and child.array_index == 1
    child.move_to(S.STARTING)
    store.update_job(child, S.RUNNABLE)
    summary = store.array_summary("p")
    assert summary is not None
    assert (summary.counts["RUNNABLE"], summary.counts["STARTING"]) == (1, 1)
    assert [c.job_id for c in store.children("p", [S.PENDING, S.RUNNABLE])] == ["p:0", "p:2"]
    shown = store.with_array_properties(parent.doc, summary)
    assert shown["arrayProperties"]["size"] == 3
    assert shown["arrayProperties"]["statusSummary"]["STARTING"] == 1
    assert "statusSummary" not in parent.doc["arrayProperties"]  # the stored document is not changed


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    for statement in V1:
        old.execute(statement)
    old.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")
    old.execute(
        "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, doc) "
        "VALUES ('old', ?, 'q', 'n', 'd', 'RUNNABLE', 1, '{\"jobId\": \"old\", \"status\": \"RUNNABLE\"}')",
        (ACCOUNT,),
    )
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        kept = store.get_job("old")
        assert kept is not None and kept.status == S.RUNNABLE and kept.array_parent is None
        assert [j.job_id for j in store.jobs_in_queue(ACCOUNT, "q", [S.RUNNABLE])] == ["old"]
    finally:
        store.close()
    reopened = SqliteStore(path)  # a second open applies nothing twice
    try:
        assert reopened.get_meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        reopened.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(Exception, match="newer than this batchd"):
        SqliteStore(path)


def test_queued_jobs_count_an_arrays_children_created_or_not(store: SqliteStore) -> None:
    with store.transaction():
        store.insert_job(job("plain"))
        store.insert_job(job("p", size=5))
    # The parent, the ordinary job, and five children not created yet.
    assert store.count_queued(ACCOUNT, 100) == 7
    parent = store.get_job("p")
    assert parent is not None
    kids = [job(f"p:{i}", S.RUNNABLE, array_parent="p", array_index=i) for i in range(2)]
    with store.transaction():
        store.spawn_children(parent, kids, 5)
    assert store.count_queued(ACCOUNT, 100) == 7
    kids[0].move_to(S.STARTING)
    store.update_job(kids[0], S.RUNNABLE)
    assert store.count_queued(ACCOUNT, 100) == 6
    assert store.count_queued("000000000000", 100) == 0


def test_a_version_2_database_gets_the_log_streams_of_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    for statement in (*V1, *V2):
        old.execute(statement)
    old.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '2')")
    retried = {
        "jobId": "retried",
        "status": "SUCCEEDED",
        "container": {"logStreamName": "jd/default/second"},
        "attempts": [
            {"container": {"logStreamName": "jd/default/first"}, "startedAt": 5},
            {"container": {"logStreamName": "jd/default/second"}, "startedAt": 9},
        ],
    }
    configured = {
        "jobId": "configured",
        "status": "RUNNING",
        "container": {
            "logStreamName": "team/default/third",
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/team/logs"}},
        },
    }
    other_driver = {
        "jobId": "other",
        "status": "RUNNING",
        "container": {
            "logStreamName": "jd/default/fourth",
            "logConfiguration": {"logDriver": "json-file", "options": {"awslogs-group": "/ignored"}},
        },
    }
    never_ran = {"jobId": "waiting", "status": "RUNNABLE", "container": {}}
    docs: list[dict[str, Any]] = [retried, configured, other_driver, never_ran]
    for created, doc in enumerate(docs, start=1):
        old.execute(
            "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, doc) "
            "VALUES (?, ?, 'q', 'n', 'd', ?, ?, ?)",
            (doc["jobId"], ACCOUNT, doc["status"], created, json.dumps(doc)),
        )
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert store.log_streams(ACCOUNT, "/aws/batch/job") == [
            ("jd/default/first", 1),
            ("jd/default/fourth", 3),
            ("jd/default/second", 1),
        ]
        assert store.log_streams(ACCOUNT, "/team/logs") == [("team/default/third", 2)]
        assert store.log_groups(ACCOUNT) == [("/aws/batch/job", 1), ("/team/logs", 2)]
        assert store.log_streams("999999999999", "/aws/batch/job") == []
    finally:
        store.close()


def test_a_version_3_database_gets_the_share_columns_of_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    for statement in (*V1, *V2, *V3):
        old.execute(statement)
    old.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '3')")
    docs: list[dict[str, Any]] = [
        {"jobId": "fair", "status": "RUNNABLE", "shareIdentifier": "teamA", "schedulingPriority": 8},
        {"jobId": "shared", "status": "RUNNABLE", "shareIdentifier": "teamB"},
        {"jobId": "fifo", "status": "RUNNABLE"},
    ]
    for created, doc in enumerate(docs, start=1):
        old.execute(
            "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, doc) "
            "VALUES (?, ?, 'q', 'n', 'd', ?, ?, ?)",
            (doc["jobId"], ACCOUNT, doc["status"], created, json.dumps(doc)),
        )
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        found = store.get_jobs(ACCOUNT, ["fair", "shared", "fifo"])
        assert {k: (j.share_identifier, j.scheduling_priority) for k, j in found.items()} == {
            "fair": ("teamA", 8),
            "shared": ("teamB", 0),
            "fifo": (None, 0),
        }
        listed = store.list_jobs(
            ACCOUNT, "q", status=None, name_prefix=None, name=None, jd_arn=None, jd_arn_prefix=None,
            created_before=None, created_after=None, after=None, limit=10, share_prefix="team",
        )  # fmt: skip
        assert [j.job_id for j in listed] == ["shared", "fair"]
        with store.transaction():
            store.insert_job(job("new", share_identifier="teamC", scheduling_priority=3))
        new = store.get_job("new")
        assert new is not None and (new.share_identifier, new.scheduling_priority) == ("teamC", 3)
    finally:
        store.close()

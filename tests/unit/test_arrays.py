"""domain/arrays and the parent's transitions: what a child is, what it waits for, when a parent ends."""

from __future__ import annotations

import itertools

import pytest

from batchd.domain.arrays import child_dependencies, child_doc, child_id, parent_of, parent_outcome
from batchd.domain.jobs import PARENT_ALLOWED, IllegalTransition, JobStatus, can_move, check_transition
from batchd.store.records import JobRecord

S = JobStatus
PARENT_LEGAL = {
    (S.SUBMITTED, S.PENDING),
    (S.SUBMITTED, S.FAILED),
    (S.PENDING, S.SUCCEEDED),
    (S.PENDING, S.FAILED),
}
ARN = "arn:aws:batch:us-east-1:123456789012:job/p"


def parent_doc(**members: object) -> dict[str, object]:
    return {
        "jobId": "p", "jobArn": ARN, "jobName": "n", "status": "PENDING", "attempts": [{"x": 1}],
        "arrayProperties": {"size": 3}, "container": {"image": "i"}, "dependsOn": [], **members,
    }  # fmt: skip


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobStatus, JobStatus)))
def test_parent_transitions(current: JobStatus, target: JobStatus) -> None:
    assert can_move(current, target, array_parent=True) is ((current, target) in PARENT_LEGAL)


def test_a_parent_never_runs() -> None:
    reachable = {target for targets in PARENT_ALLOWED.values() for target in targets}
    assert reachable == {S.PENDING, S.SUCCEEDED, S.FAILED}


def test_check_transition_names_the_move() -> None:
    with pytest.raises(IllegalTransition, match="array parent cannot move from SUBMITTED to RUNNABLE"):
        check_transition(S.SUBMITTED, S.RUNNABLE, array_parent=True)
    with pytest.raises(IllegalTransition, match="job cannot move from PENDING to SUCCEEDED"):
        check_transition(S.PENDING, S.SUCCEEDED)
    check_transition(S.PENDING, S.SUCCEEDED, array_parent=True)


def test_move_to_changes_status_and_document_together() -> None:
    job = JobRecord("p", "a", "q", "n", "d", S.SUBMITTED, 0, parent_doc(status="SUBMITTED"))
    assert job.array_size == 3
    job.move_to(S.PENDING)
    assert job.status == S.PENDING and job.doc["status"] == "PENDING"
    with pytest.raises(IllegalTransition):
        job.move_to(S.RUNNABLE)
    assert job.status == S.PENDING and job.doc["status"] == "PENDING"
    child = JobRecord(
        "p:0", "a", "q", "n", "d", S.RUNNABLE, 0, {"arrayProperties": {"index": 0}}, array_parent="p"
    )
    assert child.array_size is None
    child.move_to(S.STARTING)
    assert child.doc["status"] == "STARTING"


def test_child_ids_and_parents() -> None:
    assert child_id("abc", 7) == "abc:7"
    assert parent_of("abc:7") == "abc"
    assert parent_of("4c7599ae-0a82-49aa-ba5a-4727fcce14a8") is None
    assert parent_of("abc:x") is None


def test_child_document() -> None:
    doc = child_doc(parent_doc(statusReason="r"), 2, S.RUNNABLE)
    assert doc["jobId"] == "p:2" and doc["jobArn"] == f"{ARN}:2"
    assert doc["status"] == "RUNNABLE"
    assert doc["arrayProperties"] == {"index": 2}
    assert doc["attempts"] == [] and "statusReason" not in doc
    assert doc["container"] == {"image": "i"} and doc["jobName"] == "n"


def test_child_dependencies_by_type() -> None:
    plain = parent_doc(dependsOn=[{"jobId": "other"}])
    assert child_dependencies(plain, 1) == []
    n_to_n = parent_doc(dependsOn=[{"jobId": "a", "type": "N_TO_N"}, {"jobId": "b", "type": "N_TO_N"}])
    assert child_dependencies(n_to_n, 2) == [
        {"jobId": "a:2", "type": "N_TO_N"},
        {"jobId": "b:2", "type": "N_TO_N"},
    ]
    sequential = parent_doc(dependsOn=[{"type": "SEQUENTIAL"}])
    assert child_dependencies(sequential, 0) == []
    assert child_dependencies(sequential, 3) == [{"jobId": "p:2", "type": "SEQUENTIAL"}]


def counts(**given: int) -> dict[str, int]:
    return {s.value: given.get(s.value, 0) for s in JobStatus}


def test_parent_outcome() -> None:
    assert parent_outcome(counts(SUCCEEDED=2, RUNNING=1), 3) is None
    assert parent_outcome(counts(FAILED=1, RUNNABLE=2), 3) is None
    assert parent_outcome(counts(SUCCEEDED=3), 3) == (S.SUCCEEDED, "All child jobs succeeded")
    status, reason = parent_outcome(counts(SUCCEEDED=1, FAILED=2), 3) or (None, "")
    assert status == S.FAILED and reason == "2 of 3 child jobs failed"

"""domain/jobs: job statuses and the transitions between them (docs/api.md, Job statuses and statusReason;
docs/jobs.md, The job state machine)."""

from __future__ import annotations

import itertools

import pytest

from batchd.domain.jobs import ACTIVE, ALLOWED, QUEUED, TERMINAL, JobStatus, can_move

S = JobStatus

LEGAL = {
    (S.SUBMITTED, S.PENDING),
    (S.SUBMITTED, S.RUNNABLE),
    (S.SUBMITTED, S.FAILED),
    (S.PENDING, S.RUNNABLE),
    (S.PENDING, S.FAILED),
    (S.RUNNABLE, S.STARTING),
    (S.RUNNABLE, S.FAILED),
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.FAILED),
    (S.STARTING, S.RUNNABLE),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.RUNNABLE),
}


def test_every_status_has_a_transition_table() -> None:
    assert set(ALLOWED) == set(JobStatus)


def test_status_values_are_the_wire_names() -> None:
    assert [s.value for s in JobStatus] == [
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    ]
    assert JobStatus("RUNNING") is S.RUNNING


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobStatus, JobStatus)))
def test_transitions(current: JobStatus, target: JobStatus) -> None:
    assert can_move(current, target) is ((current, target) in LEGAL)


def test_terminal_states_have_no_way_out() -> None:
    assert {S.SUCCEEDED, S.FAILED} == TERMINAL
    for status in TERMINAL:
        assert status.is_terminal
        assert not any(can_move(status, t) for t in JobStatus)


def test_no_state_moves_to_itself_or_back_to_submitted() -> None:
    for status in JobStatus:
        assert not can_move(status, status)
        assert not can_move(status, S.SUBMITTED)


def test_only_a_running_job_succeeds() -> None:
    assert [s for s in JobStatus if can_move(s, S.SUCCEEDED)] == [S.RUNNING]


def test_every_non_terminal_state_can_fail() -> None:
    for status in JobStatus:
        assert can_move(status, S.FAILED) is (not status.is_terminal)


def test_queued_and_active_sets() -> None:
    assert {S.SUBMITTED, S.PENDING, S.RUNNABLE} == QUEUED
    assert {S.STARTING, S.RUNNING} == ACTIVE
    assert {s for s in JobStatus if s.is_queued} == QUEUED
    assert not QUEUED & ACTIVE and not QUEUED & TERMINAL and not ACTIVE & TERMINAL
    assert set(JobStatus) == QUEUED | ACTIVE | TERMINAL


def test_a_retry_goes_back_to_runnable_only_from_a_placed_job() -> None:
    assert {s for s in JobStatus if can_move(s, S.RUNNABLE)} == {
        S.SUBMITTED,
        S.PENDING,
        S.STARTING,
        S.RUNNING,
    }

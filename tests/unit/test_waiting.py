"""Why a job waits: placement's causes, their statusReasons, time-limit actions (docs/jobs.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batchd.domain.fair_share import SharePolicy, ShareUsage, fair_share_order
from batchd.domain.jobs import REASON_TOO_BIG
from batchd.domain.placement import (
    HEAD_LOOKAHEAD,
    Budget,
    Candidate,
    Cause,
    EnvironmentView,
    QueueView,
    place,
)
from batchd.domain.waiting import (
    REASON_NO_MEMORY,
    REASON_NO_VCPUS,
    REASON_SHARE,
    canceled_reason,
    check_time_limit_actions,
    reason_code,
    reason_for,
    time_limits,
)
from batchd.errors import ClientException
from batchd.scheduler.waits import Waits

HOST = 64 * 1024
Q = "arn:aws:batch:us-east-1:123456789012:job-queue/q"


def job(job_id: str, queue: str = "q", seq: int = 0, vcpus: float = 1, memory: int = 64) -> Candidate:
    return Candidate(job_id, queue, seq, vcpus, memory)


def one_queue(
    capacity: float = 2, used: float = 0
) -> tuple[dict[str, QueueView], dict[str, EnvironmentView]]:
    return {"q": QueueView("q", 1, ("ce",))}, {"ce": EnvironmentView("ce", capacity, used, True)}


class Counted:
    def __init__(self, jobs: list[Candidate]) -> None:
        self.jobs, self.seen = jobs, 0

    def __iter__(self) -> Iterator[Candidate]:
        for j in self.jobs:
            self.seen += 1
            yield j


def test_a_job_with_no_free_vcpus_gets_the_capacity_cause() -> None:
    qs, es = one_queue(capacity=2)
    plan = place([job("a", vcpus=2), job("b", seq=1)], qs, es, HOST, HOST)
    assert [a.job_id for a in plan.assignments] == ["a"]
    assert plan.causes == {"b": Cause.NO_VCPUS}


def test_placed_jobs_have_no_cause() -> None:
    qs, es = one_queue(capacity=4)
    plan = place([job("a"), job("b", seq=1)], qs, es, HOST, HOST)
    assert plan.causes == {}


def test_a_job_too_big_for_every_environment_is_a_misfit_cause() -> None:
    qs, es = one_queue(capacity=2)
    plan = place([job("big", vcpus=4), job("huge", seq=1, memory=HOST + 1)], qs, es, HOST, HOST)
    assert plan.causes == {"big": Cause.TOO_BIG, "huge": Cause.TOO_BIG}
    assert plan.misfits == ["big", "huge"]


def test_short_host_memory_is_its_own_cause() -> None:
    qs, es = one_queue(capacity=8)
    plan = place([job("a", memory=1000), job("b", seq=1, memory=1000)], qs, es, 1500, HOST)
    assert [a.job_id for a in plan.assignments] == ["a"]
    assert plan.causes == {"b": Cause.NO_MEMORY}


def test_the_quota_cause() -> None:
    queue = Q
    qs = {queue: QueueView(queue, 1, ("ce",))}
    es = {"ce": EnvironmentView("ce", 8, 0, True)}
    budgets = {"123456789012": Budget(1, None)}
    plan = place([job("a", queue), job("b", queue, 1)], qs, es, HOST, HOST, budgets=budgets)
    assert plan.causes == {"b": Cause.QUOTA}
    assert plan.over_quota == ["b"]


def test_only_the_first_job_of_a_full_queue_is_looked_at() -> None:
    qs, es = one_queue(capacity=2, used=2)
    backlog = Counted([job(f"j{i}", seq=i) for i in range(1000)])
    plan = place(backlog, qs, es, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"q"})
    assert plan.causes == {"j0": Cause.NO_VCPUS}
    assert backlog.seen == 1


def test_each_full_queue_reports_its_first_job_within_the_lookahead() -> None:
    qs = {"a": QueueView("a", 2, ("ce",)), "b": QueueView("b", 1, ("ce",))}
    es = {"ce": EnvironmentView("ce", 1, 1, True)}
    jobs = [job("a0", "a", 0), job("a1", "a", 1), job("b0", "b", 2), job("b1", "b", 3)]
    backlog = Counted(jobs)
    plan = place(backlog, qs, es, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"a", "b"})
    assert plan.causes == {"a0": Cause.NO_VCPUS, "b0": Cause.NO_VCPUS}
    assert backlog.seen == 3
    # Behind a long backlog of the first queue, the second queue's head is not searched for.
    long = Counted([job(f"a{i}", "a", i) for i in range(10_000)] + [job("b0", "b", 10_000)])
    plan = place(long, qs, es, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"a", "b"})
    assert plan.causes == {"a0": Cause.NO_VCPUS}
    assert long.seen <= HEAD_LOOKAHEAD + 2


def fair(waiting: dict[str, list[Candidate]], running: dict[str, float], **document: Any) -> Any:
    policy = SharePolicy.from_document(document or None)
    return fair_share_order(waiting, running, ShareUsage.for_policy(policy), policy, 4, 0.0)


def test_a_share_held_back_by_the_compute_reservation() -> None:
    # computeReservation 50 with one active share: it may use half of the 4 vCPUs.
    order = fair({"A": [job("a1", vcpus=2), job("a2", seq=1, vcpus=2)]}, {"A": 2.0}, computeReservation=50)
    assert list(order) == []
    assert order.held == {"a1": Cause.SHARE}


def test_a_share_with_its_part_running_waits_for_the_weights_not_capacity() -> None:
    order = fair({"A": [job("a1")], "B": [job("b1", seq=1)]}, {"A": 2.0, "B": 2.0})
    assert list(order) == []
    assert order.held == {"a1": Cause.SHARE, "b1": Cause.SHARE}


def test_a_lone_share_on_a_full_queue_waits_for_capacity() -> None:
    order = fair({"A": [job("a1")]}, {"A": 4.0})
    assert list(order) == []
    assert order.held == {"a1": Cause.NO_VCPUS}


def test_reasons_use_aws_codes() -> None:
    assert reason_for(Cause.NO_VCPUS, Q) == REASON_NO_VCPUS
    assert REASON_NO_VCPUS.startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - ")
    assert reason_for(Cause.NO_MEMORY, Q) == REASON_NO_MEMORY
    assert reason_for(Cause.TOO_BIG, Q) == REASON_TOO_BIG
    assert reason_for(Cause.SHARE, Q) == REASON_SHARE
    assert "123456789012" in reason_for(Cause.QUOTA, Q)
    assert reason_code(REASON_NO_VCPUS) == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    assert reason_code(REASON_TOO_BIG) == "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
    assert reason_code("Essential container in task exited") is None
    assert reason_code(None) is None
    assert canceled_reason("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY") == (
        "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    )


def action(**overrides: Any) -> dict[str, Any]:
    entry = {
        "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        "state": "RUNNABLE",
        "maxTimeSeconds": 600,
        "action": "CANCEL",
    }
    return {**entry, **overrides}


def test_time_limit_actions_are_checked() -> None:
    assert check_time_limit_actions(None) == []
    assert check_time_limit_actions([action()]) == [action()]
    assert check_time_limit_actions([action(maxTimeSeconds=86_400)]) == [action(maxTimeSeconds=86_400)]
    bad = [
        [action(reason="QUOTA:ACCOUNT_RUNNING_LIMIT")],
        [action(state="STARTING")],
        [action(action="TERMINATE")],
        [action(maxTimeSeconds=599)],
        [action(maxTimeSeconds=86_401)],
        [action(), action(maxTimeSeconds=700)],
    ]
    for actions in bad:
        with pytest.raises(ClientException):
            check_time_limit_actions(actions)


def test_the_floor_lowers_the_minimum_only() -> None:
    assert check_time_limit_actions([action(maxTimeSeconds=1)], min_seconds=1)[0]["maxTimeSeconds"] == 1
    with pytest.raises(ClientException):
        check_time_limit_actions([action(maxTimeSeconds=1)], min_seconds=60)
    with pytest.raises(ClientException):
        check_time_limit_actions([action(maxTimeSeconds=86_401)], min_seconds=1)


def test_only_jobs_with_a_matching_reason_are_tracked() -> None:
    waits = Waits()
    waits.set_limits({Q: time_limits({"jobStateTimeLimitActions": [action(maxTimeSeconds=10)]})})
    waits.remember("capacity", Q, REASON_NO_VCPUS, 1_000)
    waits.remember("too-big", Q, REASON_TOO_BIG, 1_000)
    waits.remember("other-queue", Q + "2", REASON_NO_VCPUS, 1_000)
    assert waits.tracked == 1
    assert waits.due(10_999) == []
    assert waits.due(11_000) == [("capacity", "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY")]
    # A new reason restarts the clock; another cause stops the tracking.
    waits.remember("capacity", Q, REASON_NO_MEMORY, 5_000)
    assert waits.due(11_000) == [] and waits.due(15_000) != []
    waits.remember("capacity", Q, REASON_SHARE, 5_000)
    assert waits.tracked == 0
    # A queue given an action later tracks the jobs that already wait with its reason.
    waits.set_limits(
        {Q: time_limits({"jobStateTimeLimitActions": [action(reason=REASON_TOO_BIG.split(" - ")[0])]})}
    )
    assert [job_id for job_id, _ in waits.due(10**9)] == ["too-big"]


def test_a_misfit_at_the_head_of_a_full_queue_does_not_hide_the_job_behind_it() -> None:
    qs, es = one_queue(capacity=2, used=2)
    jobs = [job("big", vcpus=4), job("next", seq=1), job("last", seq=2)]
    plan = place(Counted(jobs), qs, es, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"q"})
    assert plan.causes == {"big": Cause.TOO_BIG, "next": Cause.NO_VCPUS}

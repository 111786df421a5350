"""domain/placement.place: which RUNNABLE jobs start now, and where (docs/api.md, Scheduling and capacity)."""

from __future__ import annotations

from collections.abc import Iterator

from batchd.domain.placement import Assignment, Budget, Candidate, EnvironmentView, QueueView, place

HOST = 64 * 1024


def job(job_id: str, queue: str = "q", seq: int = 0, vcpus: float = 1, memory: int = 64) -> Candidate:
    return Candidate(job_id, queue, seq, vcpus, memory)


def env(arn: str, capacity: float = 4, used: float = 0, open: bool = True) -> EnvironmentView:
    return EnvironmentView(arn, capacity, used, open)


def queues(*views: QueueView) -> dict[str, QueueView]:
    return {v.arn: v for v in views}


def envs(*views: EnvironmentView) -> dict[str, EnvironmentView]:
    return {v.arn: v for v in views}


def placed(plan_assignments: list[Assignment]) -> list[str]:
    return [a.job_id for a in plan_assignments]


def test_higher_priority_queue_goes_first_on_a_shared_environment() -> None:
    qs = queues(QueueView("low", 1, ("ce",)), QueueView("high", 10, ("ce",)))
    candidates = [job("l1", "low", 1), job("l2", "low", 2), job("h1", "high", 3), job("h2", "high", 4)]
    plan = place(candidates, qs, envs(env("ce", capacity=2)), HOST, HOST)
    assert placed(plan.assignments) == ["h1", "h2"]
    assert plan.misfits == []


def test_priority_order_of_all_placements() -> None:
    qs = queues(QueueView("low", 1, ("ce",)), QueueView("mid", 5, ("ce",)), QueueView("high", 10, ("ce",)))
    candidates = [job("l1", "low", 1), job("m1", "mid", 2), job("h1", "high", 3), job("m2", "mid", 4)]
    plan = place(candidates, qs, envs(env("ce", capacity=10)), HOST, HOST)
    assert placed(plan.assignments) == ["h1", "m1", "m2", "l1"]


def test_submission_order_within_a_queue() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("c", seq=30), job("a", seq=10), job("d", seq=40), job("b", seq=20)]
    plan = place(candidates, qs, envs(env("ce", capacity=2)), HOST, HOST)
    assert placed(plan.assignments) == ["a", "b"]


def test_environments_are_tried_in_queue_order() -> None:
    qs = queues(QueueView("q", 1, ("first", "second")))
    plan = place([job("j")], qs, envs(env("second"), env("first")), HOST, HOST)
    assert plan.assignments == [Assignment("j", "first")]


def test_a_full_first_environment_sends_the_job_to_the_next() -> None:
    qs = queues(QueueView("q", 1, ("first", "second")))
    e = envs(env("first", capacity=2, used=2), env("second", capacity=2))
    plan = place([job("j")], qs, e, HOST, HOST)
    assert plan.assignments == [Assignment("j", "second")]


def test_jobs_spill_over_to_the_next_environment_as_the_first_fills() -> None:
    qs = queues(QueueView("q", 1, ("first", "second")))
    e = envs(env("first", capacity=2), env("second", capacity=1))
    plan = place([job("a", seq=1), job("b", seq=2), job("c", seq=3), job("d", seq=4)], qs, e, HOST, HOST)
    assert plan.assignments == [Assignment("a", "first"), Assignment("b", "first"), Assignment("c", "second")]
    assert plan.misfits == []


def test_capacity_counts_used_vcpus() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("a", seq=1), job("b", seq=2)], qs, envs(env("ce", capacity=4, used=3)), HOST, HOST)
    assert placed(plan.assignments) == ["a"]


def test_fractional_vcpus() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job(f"j{i}", seq=i, vcpus=0.25) for i in range(6)]
    plan = place(candidates, qs, envs(env("ce", capacity=1)), HOST, HOST)
    assert placed(plan.assignments) == ["j0", "j1", "j2", "j3"]


def test_fractional_capacity_left() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    e = envs(env("ce", capacity=2.5, used=1))
    plan = place([job("big", seq=1, vcpus=2), job("fits", seq=2, vcpus=1.5)], qs, e, HOST, HOST)
    assert placed(plan.assignments) == ["fits"]
    assert plan.misfits == []


def test_a_full_environment_places_nothing() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("a")], qs, envs(env("ce", capacity=1, used=1)), HOST, HOST)
    assert plan.assignments == []
    assert plan.misfits == []


def test_host_memory_is_never_overbooked() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("a", seq=1, memory=600), job("b", seq=2, memory=600), job("c", seq=3, memory=300)]
    plan = place(candidates, qs, envs(env("ce", capacity=10)), 1000, 4000)
    assert placed(plan.assignments) == ["a", "c"]
    assert plan.misfits == []


def test_memory_is_shared_by_all_environments() -> None:
    qs = queues(QueueView("q1", 2, ("ce1",)), QueueView("q2", 1, ("ce2",)))
    candidates = [job("a", "q1", 1, memory=700), job("b", "q2", 2, memory=700)]
    plan = place(candidates, qs, envs(env("ce1"), env("ce2")), 1000, 1000)
    assert placed(plan.assignments) == ["a"]
    assert plan.misfits == []


def test_a_job_that_waits_for_memory_is_not_a_misfit() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("a", memory=2000)], qs, envs(env("ce")), 1000, 4000)
    assert plan.assignments == []
    assert plan.misfits == []


def test_a_disabled_or_invalid_environment_gets_nothing() -> None:
    qs = queues(QueueView("q", 1, ("closed",)))
    plan = place([job("a")], qs, envs(env("closed", open=False)), HOST, HOST)
    assert plan.assignments == []
    # It could hold the job once opened: waiting, not a misfit.
    assert plan.misfits == []


def test_a_closed_environment_is_skipped_for_the_next_one() -> None:
    qs = queues(QueueView("q", 1, ("closed", "open")))
    plan = place([job("a")], qs, envs(env("closed", open=False), env("open")), HOST, HOST)
    assert plan.assignments == [Assignment("a", "open")]


def test_no_head_of_line_blocking() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("big", seq=1, vcpus=3), job("small", seq=2, vcpus=1)]
    plan = place(candidates, qs, envs(env("ce", capacity=4, used=2)), HOST, HOST)
    assert placed(plan.assignments) == ["small"]
    assert plan.misfits == []


def test_no_head_of_line_blocking_across_queues() -> None:
    qs = queues(QueueView("high", 10, ("ce",)), QueueView("low", 1, ("ce",)))
    candidates = [job("big", "high", 1, vcpus=2), job("small", "low", 2, vcpus=1)]
    plan = place(candidates, qs, envs(env("ce", capacity=2, used=1)), HOST, HOST)
    assert placed(plan.assignments) == ["small"]


def test_no_head_of_line_blocking_by_a_misfit() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("huge", seq=1, vcpus=64), job("small", seq=2)]
    plan = place(candidates, qs, envs(env("ce", capacity=4)), HOST, HOST)
    assert placed(plan.assignments) == ["small"]
    assert plan.misfits == ["huge"]


def test_a_job_bigger_than_every_environment_of_its_queue_is_a_misfit() -> None:
    qs = queues(QueueView("q", 1, ("a", "b")), QueueView("other", 1, ("large",)))
    e = envs(env("a", capacity=2), env("b", capacity=4), env("large", capacity=64))
    plan = place([job("j", vcpus=8)], qs, e, HOST, HOST)
    assert plan.assignments == []
    assert plan.misfits == ["j"]


def test_a_job_that_fits_one_environment_of_its_queue_is_not_a_misfit() -> None:
    qs = queues(QueueView("q", 1, ("small", "large")))
    e = envs(env("small", capacity=2), env("large", capacity=8, used=8))
    plan = place([job("j", vcpus=4)], qs, e, HOST, HOST)
    assert plan.assignments == []
    assert plan.misfits == []


def test_a_job_exactly_as_big_as_the_environment_runs() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("j", vcpus=4)], qs, envs(env("ce", capacity=4)), HOST, HOST)
    assert plan.assignments == [Assignment("j", "ce")]


def test_a_job_bigger_than_host_memory_is_a_misfit() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("j", memory=HOST + 1), job("k", seq=1)], qs, envs(env("ce")), HOST, HOST)
    assert plan.misfits == ["j"]
    assert placed(plan.assignments) == ["k"]


def test_a_queue_without_environments_places_nothing() -> None:
    qs = queues(QueueView("q", 1, ()))
    plan = place([job("j")], qs, envs(env("ce")), HOST, HOST)
    assert plan.assignments == []


def test_a_job_of_an_unknown_queue_is_ignored() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    plan = place([job("lost", "gone"), job("j", seq=1)], qs, envs(env("ce", capacity=1)), HOST, HOST)
    assert plan.assignments == [Assignment("j", "ce")]
    assert plan.misfits == []


def test_nothing_to_place() -> None:
    plan = place([], {}, {}, HOST, HOST)
    assert plan.assignments == [] and plan.misfits == []


def test_ranked_candidates_are_taken_in_the_given_order() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("late", seq=9), job("early", seq=1)]
    assert placed(
        place(candidates, qs, envs(env("ce", capacity=1)), HOST, HOST, ranked=True).assignments
    ) == ["late"]
    assert placed(place(candidates, qs, envs(env("ce", capacity=1)), HOST, HOST).assignments) == ["early"]


def test_smallest_vcpus_stops_the_scan_only_when_nothing_can_start() -> None:
    qs = queues(QueueView("q", 1, ("ce",)))
    candidates = [job("a", seq=1, vcpus=2), job("b", seq=2, vcpus=1), job("c", seq=3, vcpus=1)]
    e = envs(env("ce", capacity=3))
    plan = place(candidates, qs, e, HOST, HOST, smallest_vcpus=1)
    assert placed(plan.assignments) == ["a", "b"]
    full = envs(env("ce", capacity=3, used=2.5))
    assert place(candidates, qs, full, HOST, HOST, smallest_vcpus=1).assignments == []


def test_smallest_vcpus_does_not_hide_room_in_another_environment() -> None:
    qs = queues(QueueView("q1", 2, ("full",)), QueueView("q2", 1, ("roomy",)))
    candidates = [job("a", "q1", 1), job("b", "q2", 2)]
    e = envs(env("full", capacity=1, used=1), env("roomy", capacity=1))
    plan = place(candidates, qs, e, HOST, HOST, ranked=True, smallest_vcpus=1)
    assert plan.assignments == [Assignment("b", "roomy")]


class _Counted:
    """The candidates, counting how many the placement looked at."""

    def __init__(self, jobs: list[Candidate]) -> None:
        self.jobs, self.seen = jobs, 0

    def __iter__(self) -> Iterator[Candidate]:
        for j in self.jobs:
            self.seen += 1
            yield j


def test_a_full_queue_is_not_scanned_while_an_unused_environment_idles() -> None:
    qs = queues(QueueView("busy", 1, ("full",)), QueueView("quiet", 1, ("idle",)))
    e = envs(env("full", capacity=2, used=2), env("idle", capacity=8))
    backlog = _Counted([job(f"j{i}", "busy", i) for i in range(1000)])
    plan = place(backlog, qs, e, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"busy"})
    assert plan.assignments == [] and plan.misfits == []
    assert backlog.seen <= 1


def test_the_scan_stops_once_the_last_queue_with_room_fills() -> None:
    qs = queues(
        QueueView("busy", 2, ("full",)), QueueView("open", 1, ("roomy",)), QueueView("quiet", 1, ("idle",))
    )
    e = envs(env("full", capacity=1, used=1), env("roomy", capacity=2), env("idle", capacity=8))
    # The full queue's jobs rank first; they are passed over, two of the open queue's start, the rest
    # of the backlog is not looked at.
    jobs = [job(f"b{i}", "busy", i) for i in range(3)] + [job(f"o{i}", "open", 10 + i) for i in range(100)]
    backlog = _Counted(jobs)
    plan = place(backlog, qs, e, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"busy", "open"})
    assert plan.assignments == [Assignment("o0", "roomy"), Assignment("o1", "roomy")]
    assert backlog.seen <= 6


def test_known_candidate_queues_place_as_the_global_check_does() -> None:
    qs = queues(QueueView("q1", 2, ("a", "b")), QueueView("q2", 1, ("b",)))
    e = envs(env("a", capacity=2, used=1), env("b", capacity=3))
    jobs = [job("x", "q1", 1), job("y", "q1", 2, vcpus=2), job("z", "q2", 3), job("w", "q2", 4)]
    with_queues = place(jobs, qs, e, HOST, HOST, ranked=True, smallest_vcpus=1, candidate_queues={"q1", "q2"})
    without = place(jobs, qs, e, HOST, HOST, ranked=True, smallest_vcpus=1)
    assert with_queues == without
    assert placed(with_queues.assignments) == ["x", "y", "z"]


def test_an_account_at_its_quota_waits_without_holding_back_another() -> None:
    held_q = "arn:aws:batch:us-east-1:111111111111:job-queue/held"
    free_q = "arn:aws:batch:us-east-1:222222222222:job-queue/free"
    qs = queues(QueueView(held_q, 10, ("ce",)), QueueView(free_q, 1, ("ce",)))
    candidates = [job("h1", held_q, 1), job("h2", held_q, 2), job("h3", held_q, 3), job("f1", free_q, 4)]
    budgets = {"111111111111": Budget(vcpus=1.5, memory_mib=None)}
    plan = place(candidates, qs, envs(env("ce", capacity=8)), HOST, HOST, budgets=budgets)
    assert placed(plan.assignments) == ["h1", "f1"]
    assert plan.over_quota == ["h2", "h3"]
    assert budgets["111111111111"].vcpus == 0.5


def test_a_memory_quota_counts_memory_not_vcpus() -> None:
    q = "arn:aws:batch:us-east-1:111111111111:job-queue/q"
    qs = queues(QueueView(q, 1, ("ce",)))
    candidates = [job("big", q, 1, memory=512), job("small", q, 2, memory=100)]
    budgets = {"111111111111": Budget(vcpus=None, memory_mib=256)}
    plan = place(candidates, qs, envs(env("ce", capacity=8)), HOST, HOST, budgets=budgets)
    assert placed(plan.assignments) == ["small"]
    assert plan.over_quota == ["big"]

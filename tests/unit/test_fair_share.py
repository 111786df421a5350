"""domain/fair_share: fair-share weights, decayed usage and the order of a pass (docs/jobs.md, Fair share)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest

from batchd.domain.fair_share import (
    FairShareOrder,
    SharePolicy,
    ShareUsage,
    fair_share_order,
    weight_of,
    within_share_key,
)
from batchd.domain.placement import Candidate
from batchd.errors import ClientException

_seq = count()


def job(job_id: str, vcpus: float = 1, seq: int | None = None) -> Candidate:
    return Candidate(job_id, "q", next(_seq) if seq is None else seq, vcpus, 64)


def backlog(share: str, n: int, vcpus: float = 1) -> list[Candidate]:
    return [job(f"{share}-{i}", vcpus) for i in range(n)]


def policy(**document: Any) -> SharePolicy:
    return SharePolicy.from_document(document)


def shares_of(jobs: list[Candidate]) -> list[str]:
    return [j.job_id.split("-")[0] for j in jobs]


def order(
    waiting: Mapping[str, list[Candidate]] | Mapping[str, Iterator[Candidate]],
    capacity: float,
    pol: SharePolicy | None = None,
    running: Mapping[str, float] | None = None,
    usage: ShareUsage | None = None,
    now: float = 0.0,
    still_to_come: Mapping[str, float] | None = None,
) -> FairShareOrder:
    pol = pol or SharePolicy()
    usage = usage or ShareUsage.for_policy(pol)
    return fair_share_order(waiting, running or {}, usage, pol, capacity, now, still_to_come=still_to_come)


# The policy document


def test_defaults() -> None:
    p = SharePolicy.from_document(None)
    assert (p.share_decay_seconds, p.compute_reservation) == (0, 0)
    assert weight_of(p, "anyone") == 1.0
    assert SharePolicy.from_document({"shareDistribution": [{"shareIdentifier": "a"}]}).exact == {"a": 1.0}


def test_an_exact_entry_then_a_prefix_then_the_default() -> None:
    p = policy(
        shareDistribution=[
            {"shareIdentifier": "teamA", "weightFactor": 0.5},
            {"shareIdentifier": "ml*", "weightFactor": 0.25},
        ]
    )
    assert weight_of(p, "teamA") == 0.5
    assert weight_of(p, "ml-train") == 0.25
    assert weight_of(p, "ml") == 0.25
    assert weight_of(p, "teamAB") == 1.0  # an exact entry is not a prefix
    assert weight_of(p, "other") == 1.0  # unlisted: AWS's default weight 1.0


def test_the_longest_prefix_wins_in_a_policy_built_by_hand() -> None:
    p = SharePolicy(exact={"ab1": 3.0}, prefixes=(("abc", 0.1), ("ab", 0.5)))
    assert weight_of(p, "abcd") == 0.1
    assert weight_of(p, "abd") == 0.5
    assert weight_of(p, "ab1") == 3.0


def test_the_parser_orders_prefixes_longest_first() -> None:
    p = policy(shareDistribution=[{"shareIdentifier": "x*", "weightFactor": 2}, {"shareIdentifier": "yy*"}])
    assert p.prefixes == (("yy", 1.0), ("x", 2.0))


@pytest.mark.parametrize("weight", [0, 0.0, -1, 0.00009, 1000, float("nan"), float("inf"), True, "1"])
def test_bad_weights_are_refused(weight: object) -> None:
    with pytest.raises(ClientException, match="weightFactor"):
        policy(shareDistribution=[{"shareIdentifier": "a", "weightFactor": weight}])


def test_the_weight_bounds_are_accepted() -> None:
    p = policy(
        shareDistribution=[
            {"shareIdentifier": "low", "weightFactor": 0.0001},
            {"shareIdentifier": "high", "weightFactor": 999.9999},
        ]
    )
    assert (weight_of(p, "low"), weight_of(p, "high")) == (0.0001, 999.9999)


@pytest.mark.parametrize(
    "entries",
    [
        ["UserA*", "UserA1"],
        ["UserA1", "UserA*"],
        ["UserA*", "UserA"],
        ["User*", "UserA*"],
        ["a", "a"],
        ["a*", "a*"],
    ],
)
def test_overlapping_or_repeated_identifiers_are_refused(entries: list[str]) -> None:
    with pytest.raises(ClientException):
        policy(shareDistribution=[{"shareIdentifier": e} for e in entries])


@pytest.mark.parametrize("identifier", ["", "*", "a*b", "a**", "x" * 256, None, 5])
def test_bad_identifiers_are_refused(identifier: object) -> None:
    with pytest.raises(ClientException):
        policy(shareDistribution=[{"shareIdentifier": identifier}])


@pytest.mark.parametrize(
    "document",
    [
        {"shareDecaySeconds": -1},
        {"shareDecaySeconds": 604_801},
        {"shareDecaySeconds": 1.5},
        {"computeReservation": 100},
        {"computeReservation": -1},
        {"shareDistribution": {"shareIdentifier": "a"}},
        {"shareDistribution": ["a"]},
    ],
)
def test_bad_documents_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ClientException):
        SharePolicy.from_document(document)


def test_the_window_is_at_least_600_seconds() -> None:
    assert policy(shareDecaySeconds=0).window_seconds == 600
    assert policy(shareDecaySeconds=60).window_seconds == 600
    assert policy(shareDecaySeconds=3600).window_seconds == 3600
    assert policy(shareDecaySeconds=604_800).window_seconds == 604_800


def test_the_reserved_fraction_follows_aws_examples() -> None:
    assert policy(computeReservation=50).reserved_fraction(1) == 0.5
    assert policy(computeReservation=50).reserved_fraction(2) == 0.25
    assert policy(computeReservation=50).reserved_fraction(3) == 0.125
    assert policy(computeReservation=25).reserved_fraction(3) == pytest.approx(0.015625)
    assert policy(computeReservation=0).reserved_fraction(1) == 0


# Decayed usage


def test_usage_decays_with_the_window_as_time_constant() -> None:
    usage = ShareUsage(600)
    usage.charge("a", 1000, now=100)
    assert usage.value("a", 100) == 1000
    assert usage.value("a", 100 + 600 * math.log(2)) == pytest.approx(500)
    assert usage.value("a", 700) == pytest.approx(1000 / math.e)
    assert usage.value("a", 100 + 6000) == pytest.approx(1000 * math.exp(-10))
    assert usage.value("nobody", 100) == 0


def test_charges_add_to_the_decayed_value() -> None:
    usage = ShareUsage(1000)
    usage.charge("a", 100, now=0)
    usage.charge("a", 100, now=1000)
    assert usage.value("a", 1000) == pytest.approx(100 / math.e + 100)
    assert usage.entries["a"][1] == 1000


def test_a_steady_share_settles_at_rate_times_window() -> None:
    usage = ShareUsage(600)
    for t in range(0, 10 * 600, 10):
        usage.charge("a", 4 * 10, now=t)  # 4 vCPUs, charged every 10 seconds
    assert usage.rate("a", 10 * 600) == pytest.approx(4, rel=0.01)


def test_running_jobs_are_charged_as_they_run() -> None:
    usage = ShareUsage(600)
    usage.accrue({"a": 4.0}, now=0)  # the first call only sets the clock
    assert usage.value("a", 0) == 0
    usage.accrue({"a": 4.0, "idle": 0.0}, now=60)
    # The exact decayed integral of 4 vCPUs over 60 s: 4 · 600 · (1 − e^(−0.1)).
    assert usage.value("a", 60) == pytest.approx(4 * 600 * (1 - math.exp(-0.1)))
    assert "idle" not in usage.entries
    # However often it is called, a steady rate accrues the same, and settles at rate × window.
    often, once = ShareUsage(600, accrued_to=0), ShareUsage(600, accrued_to=0)
    for t in range(1, 6001):
        often.accrue({"a": 2.0}, now=t)
    once.accrue({"a": 2.0}, now=6000)
    assert often.value("a", 6000) == pytest.approx(once.value("a", 6000))
    assert often.rate("a", 6000) == pytest.approx(2.0, rel=0.001)


def test_an_ending_job_is_charged_what_the_passes_did_not_accrue() -> None:
    usage = ShareUsage(600, accrued_to=100)
    assert usage.unaccrued_seconds(started=40, now=130) == 30  # accrued up to 100 already
    assert usage.unaccrued_seconds(started=110, now=130) == 20  # started after the last accrual
    assert ShareUsage(600).unaccrued_seconds(started=40, now=130) == 90  # never accrued


def test_usage_round_trips_through_its_document() -> None:
    usage = ShareUsage(900, {"a": (120.0, 50.0)}, accrued_to=60.0)
    usage.record_run("a", 30)
    again = ShareUsage.from_document(usage.to_document())
    assert (again.window_seconds, again.entries, again.accrued_to) == (900, {"a": (120.0, 50.0)}, 60.0)
    assert again.run_seconds == {"a": 30}
    wider = again.with_window(1800)
    assert (wider.window_seconds, wider.entries, wider.run_seconds) == (1800, again.entries, {"a": 30})


def test_time_going_backwards_decays_nothing() -> None:
    usage = ShareUsage(600)
    usage.charge("a", 100, now=1000)
    assert usage.value("a", 500) == 100
    usage.charge("a", 50, now=500)
    assert usage.entries["a"] == (150, 1000)


def test_the_policy_window_drives_the_decay() -> None:
    usage = ShareUsage.for_policy(policy(shareDecaySeconds=0))
    usage.charge("a", 100, now=0)
    assert usage.value("a", 600) == pytest.approx(100 / math.e)


def test_recent_and_prune() -> None:
    usage = ShareUsage(600, {"old": (50.0, 0.0), "new": (10.0, 900.0)})
    assert usage.recent("new", 1000) and not usage.recent("old", 1000)
    assert usage.recent_shares(1000) == {"new"}
    usage.prune(1000)
    assert set(usage.entries) == {"new"}


# One pass


def test_a_share_without_usage_goes_first() -> None:
    usage = ShareUsage(600)
    usage.charge("busy", 600, now=0)
    usage.record_run("late", 150)
    got = list(order({"busy": backlog("busy", 5), "late": backlog("late", 5)}, 4, usage=usage, now=0))
    # busy's rate is 1 vCPU. Each job booked for late adds what it is expected to use, 150 s of a vCPU,
    # a quarter of a vCPU over the window: late takes jobs until its deficit reaches busy's.
    assert shares_of(got) == ["late", "late", "late", "late"]
    got = list(order({"busy": backlog("busy", 5), "late": backlog("late", 8)}, 6, usage=usage, now=0))
    assert shares_of(got) == ["late", "late", "late", "late", "busy", "late"]


def test_heavy_recent_usage_yields_the_pass_to_others() -> None:
    usage = ShareUsage(600)
    usage.charge("a", 600 * 10, now=0)
    got = list(order({"a": backlog("a", 20), "b": backlog("b", 20)}, 10, usage=usage, now=0))
    assert shares_of(got) == ["b"] * 10
    # Six windows later a's usage has decayed to 10·e⁻⁶ vCPUs: the two nearly split the pass.
    later = list(order({"a": backlog("a", 20), "b": backlog("b", 20)}, 10, usage=usage, now=3600))
    assert shares_of(later).count("a") == 5


def test_weights_split_one_pass() -> None:
    p = policy(shareDistribution=[{"shareIdentifier": "b", "weightFactor": 0.5}])
    got = list(order({"a": backlog("a", 50), "b": backlog("b", 50)}, 12, p))
    assert (shares_of(got).count("a"), shares_of(got).count("b")) == (4, 8)


def test_what_running_jobs_will_still_use_counts_against_a_share() -> None:
    # a's 4 running jobs have 60 s each to go (0.4 vCPUs over the window); b's jobs are expected to
    # run the first guess, a tenth of the window (0.1 each): b takes the four free vCPUs.
    waiting = {"a": backlog("a", 10), "b": backlog("b", 10)}
    got = list(order(waiting, 8, running={"a": 4}, still_to_come={"a": 240}))
    assert shares_of(got) == ["b"] * 4
    # Without it, the running jobs count only through the usage they have been charged: none yet.
    waiting = {"a": backlog("a", 10), "b": backlog("b", 10)}
    assert shares_of(list(order(waiting, 8, running={"a": 4}))) == ["a", "b", "a", "b"]


def test_jobs_still_to_come_use_the_expected_run_time_of_their_share() -> None:
    usage = ShareUsage(600)
    assert usage.expected_run_seconds("a") == 60  # a tenth of the window before any job has ended
    usage.record_run("a", 100)
    assert usage.expected_run_seconds("a") == 100
    assert usage.expected_run_seconds("b") == 100  # the other shares' mean until its own has ended
    usage.record_run("a", 200)
    assert usage.expected_run_seconds("a") == pytest.approx(120)  # moves a fifth of the way
    running = [("a", 2.0, 1000.0), ("a", 1.0, 1030.0), ("b", 4.0, 750.0)]
    # a: 2 × (120 − 50) + 1 × (120 − 20); b, 300 s into a job expected to last 100: another 300.
    assert usage.still_to_come(running, now=1050) == {"a": pytest.approx(240), "b": pytest.approx(1200)}


def test_the_pass_stops_at_capacity_and_skips_what_does_not_fit() -> None:
    waiting = {"a": [job("a-big", 3), job("a-small", 1)], "b": [job("b-0", 1), job("b-1", 1)]}
    usage = ShareUsage(600)
    usage.charge("a", 60, now=0)
    got = list(order(waiting, 4, running={"a": 0.5}, usage=usage))
    # b (deficit 0) goes first; then a's 3-vCPU head no longer fits and a is done for the pass, its
    # small job waiting behind its head; b's second job takes the rest.
    assert [j.job_id for j in got] == ["b-0", "b-1"]


def test_a_job_bigger_than_the_queue_is_handed_over_unbooked() -> None:
    waiting = {"a": [job("a-huge", 64), job("a-0"), job("a-1")], "b": [job("b-0")]}
    got = [j.job_id for j in order(waiting, 2)]
    # The misfit is passed on for the caller to report; it takes no capacity and does not block a.
    assert got == ["a-huge", "a-0", "b-0"]


def test_free_vcpus_limit_the_pass() -> None:
    pol = SharePolicy()
    o = fair_share_order({"a": backlog("a", 10)}, {}, ShareUsage(600), pol, 10, 0, free_vcpus=3)
    assert len(list(o)) == 3


def test_priorities_order_jobs_within_a_share_only() -> None:
    @dataclass
    class Waiting:
        job: Candidate
        priority: int

    a = [Waiting(job("a-low", seq=1), 1), Waiting(job("a-high", seq=2), 9), Waiting(job("a-mid", seq=3), 5)]
    b = [Waiting(job("b-first", seq=4), 0), Waiting(job("b-second", seq=5), 0)]

    def ranked(ws: list[Waiting]) -> list[Candidate]:
        return [w.job for w in sorted(ws, key=lambda w: within_share_key(w.priority, w.job.seq))]

    got = [j.job_id for j in order({"a": ranked(a), "b": ranked(b)}, 5)]
    # Within a: by priority. Across shares the deficits alternate: a's priority 9 does not outrank b.
    assert got == ["a-high", "b-first", "a-mid", "b-second", "a-low"]


def test_release_gives_the_vcpus_back() -> None:
    o = order({"a": backlog("a", 5)}, 2)
    first = next(o)
    o.release(first)
    assert len(list(o)) == 2


# The compute reservation


def test_with_one_active_share_the_reserve_stays_free() -> None:
    p = policy(computeReservation=50)
    got = list(order({"a": backlog("a", 100)}, 8, p))
    assert len(got) == 4  # (50/100)^1 of 8 vCPUs kept free


def test_a_new_share_gets_its_first_job_from_the_reserve() -> None:
    p = policy(computeReservation=50)
    got = list(order({"a": backlog("a", 100), "b": backlog("b", 100)}, 8, p, running={"a": 4}))
    # b's first job comes from the reserve; now two shares are active, 25% is kept: b gets one more.
    assert shares_of(got) == ["b", "b"]


def test_a_new_share_starts_even_when_the_cap_left_no_room() -> None:
    p = policy(computeReservation=50)
    got = list(order({"a": backlog("a", 10), "b": backlog("b", 10)}, 2, p, running={"a": 1}))
    assert shares_of(got) == ["b"]


def test_recent_usage_keeps_a_share_active() -> None:
    p = policy(computeReservation=50)
    usage = ShareUsage.for_policy(p)
    usage.charge("a", 60, now=0)
    # a runs nothing now but ran within the window: two shares are active, 1.5 of 2 vCPUs may be used,
    # and c already runs 1.
    assert list(order({"a": backlog("a", 10)}, 2, p, running={"c": 1}, usage=usage, now=300)) == []
    # After the window it is new again and takes its first job from the reserve.
    assert len(list(order({"a": backlog("a", 10)}, 2, p, running={"c": 1}, usage=usage, now=700))) == 1


def test_no_reservation_fills_the_capacity() -> None:
    assert len(list(order({"a": backlog("a", 100)}, 8))) == 8


# A pass costs what it places


class Counted:
    def __init__(self, jobs: list[Candidate]) -> None:
        self.jobs, self.pulled = jobs, 0

    def __iter__(self) -> Iterator[Candidate]:
        for j in self.jobs:
            self.pulled += 1
            yield j


def test_a_pass_does_not_read_the_backlog() -> None:
    groups = {s: Counted(backlog(s, 10_000)) for s in ("a", "b", "c")}
    got = list(order({s: iter(g) for s, g in groups.items()}, 4))
    assert len(got) == 4
    # Each share's head, plus one more for each job taken.
    assert sum(g.pulled for g in groups.values()) <= len(got) + len(groups)
    assert max(g.pulled for g in groups.values()) <= 3


def test_taking_a_few_from_the_iterator_pulls_a_few() -> None:
    groups = {s: Counted(backlog(s, 10_000)) for s in ("a", "b")}
    o = order({s: iter(g) for s, g in groups.items()}, 1_000_000)
    taken = [next(o) for _ in range(3)]
    assert len(taken) == 3
    assert sum(g.pulled for g in groups.values()) <= 5


# Over time: a small fake loop


@dataclass
class Simulation:
    pol: SharePolicy
    capacity: float
    job_seconds: float = 60
    step: float = 5
    usage: ShareUsage = field(init=False)
    # (end time, share, vcpus, start time) per running job
    running: list[tuple[float, str, float, float]] = field(default_factory=list)
    used: dict[str, float] = field(default_factory=dict)
    # The time each share's first job started.
    started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.usage = ShareUsage.for_policy(self.pol)

    def run(self, shares: list[str], until: float, measure_from: float, start: float = 0) -> dict[str, float]:
        waiting = {s: endless(s) for s in shares}
        t = start
        while t < until:
            # Charged while they run, as the scheduler does at each pass, before any job ends or starts.
            self.usage.accrue(self.per_share(), t)
            for run in [r for r in self.running if r[0] <= t]:
                self.running.remove(run)
                self.usage.record_run(run[1], run[0] - run[3])
            to_come = self.usage.still_to_come([(s, v, st) for _, s, v, st in self.running], t)
            per_share = self.per_share()
            for j in fair_share_order(
                waiting, per_share, self.usage, self.pol, self.capacity, t, still_to_come=to_come
            ):
                share = j.job_id.split("-")[0]
                self.running.append((t + self.job_seconds, share, j.vcpus, t))
                self.started.setdefault(share, t)
            if t >= measure_from:
                for _, share, vcpus, _ in self.running:
                    self.used[share] = self.used.get(share, 0) + vcpus * self.step
            t += self.step
        return self.used

    def per_share(self) -> dict[str, float]:
        per_share: dict[str, float] = {}
        for _, share, vcpus, _ in self.running:
            per_share[share] = per_share.get(share, 0) + vcpus
        return per_share


def endless(share: str) -> Iterator[Candidate]:
    """A backlog deeper than any run: made as it is read."""
    for i in count():
        yield job(f"{share}-{i}")


def assert_ratios(used: dict[str, float], weights: dict[str, float]) -> None:
    total, inverse = sum(used.values()), sum(1 / w for w in weights.values())
    for share, w in weights.items():
        target = total * (1 / w) / inverse
        assert used[share] == pytest.approx(target, rel=0.10), (share, used, target)


def test_two_shares_get_capacity_in_inverse_proportion_to_weight() -> None:
    p = policy(shareDecaySeconds=600, shareDistribution=[{"shareIdentifier": "b", "weightFactor": 0.5}])
    used = Simulation(p, capacity=12).run(["a", "b"], until=3600, measure_from=600)
    assert_ratios(used, {"a": 1.0, "b": 0.5})


def test_three_shares_get_capacity_in_inverse_proportion_to_weight() -> None:
    p = policy(
        shareDecaySeconds=900,
        shareDistribution=[
            {"shareIdentifier": "b", "weightFactor": 0.5},
            {"shareIdentifier": "c*", "weightFactor": 0.25},
        ],
    )
    used = Simulation(p, capacity=14, job_seconds=45).run(["a", "b", "c1"], until=5400, measure_from=900)
    assert_ratios(used, {"a": 1.0, "b": 0.5, "c1": 0.25})


@pytest.mark.parametrize("job_seconds", [0.5, 5])
def test_a_split_that_is_no_whole_number_of_vcpus_comes_out_right(job_seconds: float) -> None:
    # 4 vCPUs at weights 1, 0.5 and 0.25: 0.57, 1.14 and 2.29 vCPUs. The vCPUs change hands over time,
    # and every 300 s window after the first is within 10% of the target.
    p = policy(
        shareDecaySeconds=600,
        shareDistribution=[
            {"shareIdentifier": "b", "weightFactor": 0.5},
            {"shareIdentifier": "c", "weightFactor": 0.25},
        ],
    )
    sim = Simulation(p, capacity=4, job_seconds=job_seconds, step=min(job_seconds / 2, 5))
    sim.run(["a", "b", "c"], until=300, measure_from=math.inf)
    for start in (300, 600, 900):
        sim.used = {}
        used = sim.run(["a", "b", "c"], start=start, until=start + 300, measure_from=start)
        assert_ratios(used, {"a": 1.0, "b": 0.5, "c": 0.25})


def test_a_late_share_starts_at_once_catches_up_and_then_gets_its_ratio() -> None:
    p = policy(shareDecaySeconds=600)
    sim = Simulation(p, capacity=10)
    sim.run(["a"], until=1200, measure_from=math.inf)
    catching_up = sim.run(["a", "b"], start=1200, until=3000, measure_from=1200)
    assert sim.started["b"] == 1200
    # a's head start counts against it while it decays: b gets more at first ...
    assert catching_up["b"] > 1.1 * catching_up["a"]
    # ... and, once it has decayed, they split the queue evenly.
    sim.used = {}
    used = sim.run(["a", "b"], start=3000, until=6000, measure_from=3000)
    assert_ratios(used, {"a": 1.0, "b": 1.0})


# docs/jobs.md, Fair share


def test_the_worked_example() -> None:
    p = policy(shareDecaySeconds=600, shareDistribution=[{"shareIdentifier": "teamB", "weightFactor": 0.5}])
    usage = ShareUsage.for_policy(p, {"teamA": (2400.0, 0.0), "teamB": (4500.0, 0.0)})
    usage.record_run("teamA", 300)
    usage.record_run("teamB", 300)
    # Every running job is 150 s into the 300 s its share's jobs take: 150 s to go.
    running_jobs = [("teamA", 1.0, 150.0)] * 4 + [("teamB", 1.0, 150.0)] * 6
    to_come = usage.still_to_come(running_jobs, now=300)
    assert to_come == {"teamA": 600, "teamB": 900}
    waiting = {"teamA": backlog("teamA", 5), "teamB": backlog("teamB", 5)}
    running = {"teamA": 4.0, "teamB": 6.0}
    got = list(order(waiting, 12, p, running=running, usage=usage, still_to_come=to_come))
    assert shares_of(got) == ["teamB", "teamB"]
    # With a third vCPU free, the tie at 5 goes to the earlier-submitted next job: teamA's.
    waiting = {"teamA": backlog("teamA", 5), "teamB": backlog("teamB", 5)}
    got = list(order(waiting, 13, p, running=running, usage=usage, still_to_come=to_come))
    assert shares_of(got) == ["teamB", "teamB", "teamA"]


def test_the_reservation_example_with_three_shares() -> None:
    p = policy(computeReservation=50)
    waiting = {s: backlog(s, 100) for s in ("a", "b", "c")}
    got = list(order(waiting, 8, p, running={"a": 3, "b": 3}))
    # c starts from the reserve; with three active shares 12.5% (1 vCPU) is kept: 7 usable.
    assert shares_of(got) == ["c"]

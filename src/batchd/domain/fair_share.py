"""Fair share: the order in which a fair-share queue's RUNNABLE jobs are tried (docs/jobs.md, Fair share).
Pure: no I/O, no clock; every time is passed in, in seconds.

Each share identifier is charged the vCPU-seconds its jobs use; the charge decays exponentially. A share's
deficit is (running vCPUs + decayed usage rate) × weightFactor, and the share with the smallest deficit
gets the next job, so over time capacity goes to shares in inverse proportion to their weightFactor. A
share with no running jobs and no recent usage (a late arrival) has deficit 0 and goes first, and it may
take its first job from the compute reservation that active shares may not touch.

A pass costs what it places: the shares sit in a heap, and a share's waiting jobs are pulled from its
iterator one at a time, only when that share is next, so a deep backlog is never read.

The scheduler, per fair-share queue (share identifiers are per queue: AWS does not add them up across
queues):

    usage = ShareUsage.for_policy(policy, stored_entries)
    order = fair_share_order(waiting_by_share, running_vcpus_by_share, usage, policy, max_vcpus, now,
                             free_vcpus=free_now)
    for job in order:               # stops by itself once nothing more fits
        if not started(job):        # e.g. no single environment has room, or host memory is short
            order.release(job)
    # When a job ends: usage.charge(share, vcpus * run_seconds, now), and store usage.entries.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from batchd.domain.placement import Candidate, Cause
from batchd.domain.scheduling_policies import fairshare_policy

# AWS's API reference (FairsharePolicy, shareDecaySeconds): "The amount of time (in seconds) to use to
# calculate a fair-share percentage for each share identifier in use. A value of zero (0) indicates the
# default minimum time window (600 seconds). The maximum supported value is 604800 (1 week). The decay
# allows for more recently run jobs to have more weight than jobs that ran earlier."
# Older pages (the user guide, the CloudFormation reference) still say 0 means "only current usage is
# measured"; the current API reference is followed: 0, and anything below it, is a 600-second window.
MIN_WINDOW_SECONDS = 600
# "Share identifiers that aren't included have a default weight of 1.0."
DEFAULT_WEIGHT = 1.0
_EPSILON = 1e-9
# A share's expected run time before any of its jobs has ended, as a fraction of the window.
FIRST_GUESS_OF_WINDOW = 0.1
# How much each ended run moves a share's expected run time (an exponential moving average).
RUN_TIME_SMOOTHING = 0.2


@dataclass(frozen=True, slots=True)
class SharePolicy:
    share_decay_seconds: int = 0
    compute_reservation: int = 0
    # Exact identifiers and their weights.
    exact: Mapping[str, float] = field(default_factory=dict)
    # `prefix*` entries as (prefix, weight), longest prefix first.
    prefixes: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> SharePolicy:
        """A fairsharePolicy document (CreateSchedulingPolicy's shape), checked against AWS's limits by
        the same rules as the API (batchd.domain.scheduling_policies); ClientException if bad."""
        checked = fairshare_policy(document)
        exact: dict[str, float] = {}
        prefixes: dict[str, float] = {}
        for entry in checked["shareDistribution"]:
            identifier: str = entry["shareIdentifier"]
            weight = float(entry.get("weightFactor", DEFAULT_WEIGHT))
            if identifier.endswith("*"):
                prefixes[identifier[:-1]] = weight
            else:
                exact[identifier] = weight
        ordered = tuple(sorted(prefixes.items(), key=lambda item: -len(item[0])))
        return cls(checked["shareDecaySeconds"], checked["computeReservation"], exact, ordered)

    @property
    def window_seconds(self) -> float:
        """The decay time constant: shareDecaySeconds, never below AWS's 600-second minimum window."""
        return float(max(self.share_decay_seconds, MIN_WINDOW_SECONDS))

    def reserved_fraction(self, active_shares: int) -> float:
        """(computeReservation/100)^ActiveFairShares: the part of the queue's maximum vCPUs kept free for
        shares not active yet. With computeReservation 0 nothing is kept once any share is active."""
        return (self.compute_reservation / 100) ** active_shares


def weight_of(policy: SharePolicy, share_identifier: str) -> float:
    """The exact entry, else the longest `prefix*` that matches, else AWS's default 1.0.

    A parsed policy has no overlapping entries, so at most one applies; the order only makes the answer
    well defined for a policy built by hand.
    """
    weight = policy.exact.get(share_identifier)
    if weight is not None:
        return weight
    for prefix, prefix_weight in policy.prefixes:
        if share_identifier.startswith(prefix):
            return prefix_weight
    return DEFAULT_WEIGHT


def within_share_key(scheduling_priority: int, seq: int) -> tuple[int, int]:
    """The order of jobs within one share: higher schedulingPriority first, then submission order.
    schedulingPriority never orders jobs across shares ("works only within a single share identifier")."""
    return (-scheduling_priority, seq)


class ShareUsage:
    """Per share, the decayed vCPU-seconds it has used: (value, as_of), decayed lazily when read.

    The decay is exponential with time constant τ = the policy's window (shareDecaySeconds, at least
    600 s): value(t) = value(as_of) · e^(−(t − as_of)/τ), so a charge halves after τ·ln 2 (416 s for the
    600-second minimum) and is down to 1/e after one window. τ rather than a half-life because an
    exponential with time constant τ weighs the past exactly as much in total (∫e^(−t/τ)dt = τ) as a
    τ-second sliding window does: a share running r vCPUs steadily settles at r·τ vCPU-seconds, so
    value/τ (`rate`) is its average vCPUs over the window, directly comparable with running vCPUs.
    """

    __slots__ = ("_entries", "_run_seconds", "accrued_to", "window_seconds")

    def __init__(
        self,
        window_seconds: float,
        entries: Mapping[str, tuple[float, float]] | None = None,
        accrued_to: float | None = None,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        self._entries: dict[str, tuple[float, float]] = dict(entries or {})
        # The time up to which running jobs have been charged (`accrue`); None before the first call.
        self.accrued_to = accrued_to
        # Per share, the expected run time of its jobs, from those that ended (`record_run`).
        self._run_seconds: dict[str, float] = {}

    @classmethod
    def for_policy(
        cls,
        policy: SharePolicy,
        entries: Mapping[str, tuple[float, float]] | None = None,
        accrued_to: float | None = None,
    ) -> ShareUsage:
        return cls(policy.window_seconds, entries, accrued_to)

    def with_window(self, window_seconds: float) -> ShareUsage:
        """The same usage under another window (the policy's shareDecaySeconds changed)."""
        copy = ShareUsage(window_seconds, self._entries, self.accrued_to)
        copy.restore_run_seconds(self._run_seconds)
        return copy

    def to_document(self) -> dict[str, Any]:
        """The usage as a JSON document, to store and rebuild with `from_document` after a restart."""
        return {
            "windowSeconds": self.window_seconds,
            "accruedTo": self.accrued_to,
            "shares": {share: [value, as_of] for share, (value, as_of) in self._entries.items()},
            "runSeconds": dict(self._run_seconds),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ShareUsage:
        shares = document.get("shares") or {}
        usage = cls(
            float(document["windowSeconds"]),
            {share: (float(entry[0]), float(entry[1])) for share, entry in shares.items()},
            document.get("accruedTo"),
        )
        usage.restore_run_seconds({s: float(v) for s, v in (document.get("runSeconds") or {}).items()})
        return usage

    @property
    def entries(self) -> Mapping[str, tuple[float, float]]:
        """(value, as_of) per share, to store and to rebuild a ShareUsage from after a restart."""
        return dict(self._entries)

    def value(self, share: str, now: float) -> float:
        entry = self._entries.get(share)
        if entry is None:
            return 0.0
        value, as_of = entry
        # A time before the last charge (clocks are not monotonic across restarts) decays nothing.
        return value * math.exp(-max(now - as_of, 0.0) / self.window_seconds)

    def rate(self, share: str, now: float) -> float:
        """The decayed usage as average vCPUs over the window."""
        return self.value(share, now) / self.window_seconds

    def charge(self, share: str, vcpu_seconds: float, now: float) -> None:
        """Add vCPU-seconds used by the share's jobs, as of `now`."""
        as_of = max(now, self._entries.get(share, (0.0, now))[1])
        self._entries[share] = (self.value(share, as_of) + vcpu_seconds, as_of)

    def accrue(self, running_vcpus: Mapping[str, float], now: float) -> None:
        """Charge each share for the vCPUs it has run steadily since the last call, up to `now`.

        Charged while jobs run, not when they end, so a share's usage is current however long its jobs
        are: a share whose long jobs have not ended yet is not taken for idle. The charge is the exact
        decayed integral of a constant rate r over dt: r·τ·(1 − e^(−dt/τ)). The caller accrues before any
        change to the running vCPUs, and charges an ending job's last stretch with `charge` (see
        `unaccrued_seconds`).
        """
        since = self.accrued_to
        self.accrued_to = now if since is None else max(now, since)
        if since is None or now <= since:
            return
        gained = 1.0 - math.exp(-(now - since) / self.window_seconds)
        for share, vcpus in running_vcpus.items():
            if vcpus > 0:
                self._entries[share] = (self.value(share, now) + vcpus * self.window_seconds * gained, now)

    def unaccrued_seconds(self, started: float, now: float) -> float:
        """How long of a job that ran from `started` to `now` `accrue` has not charged yet."""
        return max(0.0, now - max(started, self.accrued_to if self.accrued_to is not None else started))

    def record_run(self, share: str, seconds: float) -> None:
        """One of the share's jobs ran `seconds`: its expected run time moves towards that."""
        before = self._run_seconds.get(share)
        self._run_seconds[share] = (
            seconds if before is None else before + RUN_TIME_SMOOTHING * (seconds - before)
        )

    @property
    def run_seconds(self) -> Mapping[str, float]:
        """The expected run time per share, to store beside `entries`."""
        return dict(self._run_seconds)

    def restore_run_seconds(self, run_seconds: Mapping[str, float]) -> None:
        self._run_seconds.update(run_seconds)

    def expected_run_seconds(self, share: str) -> float:
        """The share's own expectation, else the mean of the other shares', else a tenth of the window."""
        own = self._run_seconds.get(share)
        if own is not None:
            return own
        if self._run_seconds:
            return sum(self._run_seconds.values()) / len(self._run_seconds)
        return FIRST_GUESS_OF_WINDOW * self.window_seconds

    def still_to_come(self, running: Iterable[tuple[str, float, float]], now: float) -> dict[str, float]:
        """The vCPU-seconds the running jobs are expected to use from `now` on, per share: for each
        (share, vCPUs, started), vCPUs × what is left of the share's expected run time, and once a job
        has run past half of it, as long again as it has run so far: a job that outlives the estimate is
        taken to be a long one, and keeps counting against its share rather than for nothing."""
        out: dict[str, float] = {}
        for share, vcpus, started in running:
            elapsed = max(0.0, now - started)
            left = max(self.expected_run_seconds(share) - elapsed, elapsed)
            if left > 0:
                out[share] = out.get(share, 0.0) + vcpus * left
        return out

    def recent(self, share: str, now: float) -> bool:
        """Charged within the last window. AWS: "After the period of time for decay expires, a share
        identifier is considered inactive." """
        entry = self._entries.get(share)
        return entry is not None and now - entry[1] <= self.window_seconds

    def recent_shares(self, now: float) -> set[str]:
        return {share for share in self._entries if self.recent(share, now)}

    def prune(self, now: float) -> None:
        """Forget the shares not charged within the window: they are inactive, and come back as new."""
        self._entries = {s: e for s, e in self._entries.items() if now - e[1] <= self.window_seconds}
        self._run_seconds = {s: v for s, v in self._run_seconds.items() if s in self._entries}


class FairShareOrder(Iterator[Candidate]):
    """The jobs of one fair-share queue in the order to try them this pass; see `fair_share_order`."""

    def __init__(
        self,
        waiting: Mapping[str, Iterable[Candidate]],
        running_vcpus: Mapping[str, float],
        usage: ShareUsage,
        policy: SharePolicy,
        capacity_vcpus: float,
        now: float,
        free_vcpus: float | None = None,
        still_to_come: Mapping[str, float] | None = None,
    ) -> None:
        self._policy = policy
        self._capacity = capacity_vcpus
        # Booking stops at the queue's maximum vCPUs, or sooner at what is free for it now.
        self._limit = (
            capacity_vcpus if free_vcpus is None else min(capacity_vcpus, _total(running_vcpus) + free_vcpus)
        )
        self._used = _total(running_vcpus)
        self._running: dict[str, float] = {s: v for s, v in running_vcpus.items() if v > 0}
        # Per share, vCPU-seconds its running and booked jobs are expected to use from now on.
        self._to_come: dict[str, float] = dict(still_to_come or {})
        self._usage = usage
        self._rates: dict[str, float] = {}
        self._weights: dict[str, float] = {}
        # Active: running now, or charged within the window. Only active shares are held to the cap.
        self._active = set(self._running) | usage.recent_shares(now)
        self._active_count = len(self._active)
        self._booked: dict[str, str] = {}
        # Share heads this pass passed over → their placement.Cause: the queue has no vCPUs free for them,
        # or their share has its part (it runs jobs already, or the compute reservation holds it back).
        self.held: dict[str, str] = {}
        self._running_shares = len(self._running)  # shares with vCPUs running or booked
        self._jobs: dict[str, Iterator[Candidate]] = {}
        self._heads: dict[str, Candidate] = {}
        self._heap: list[tuple[float, int, str]] = []
        for share, jobs in waiting.items():
            self._rates[share] = usage.rate(share, now)
            self._weights[share] = weight_of(policy, share)
            self._jobs[share] = iter(jobs)
            self._advance(share)

    def _deficit(self, share: str) -> float:
        # The usage rate alone decides over time: it integrates what each share got, so shares settle
        # where rate × weight is equal, whatever whole numbers of vCPUs that takes on average. What this
        # pass books counts too, so that the vCPUs freed at once (a start, a wave of jobs ending together)
        # are spread over the shares rather than all handed to the one lowest now. The vCPUs running from
        # earlier passes do not count: they are in the rate already, and counting them again would hold
        # back the shares whose part is a fraction of a vCPU (their one running job weighs on them whole).
        to_come = self._to_come.get(share, 0.0) / self._usage.window_seconds
        return (self._rates[share] + to_come) * self._weights[share]

    def _expected(self, share: str, job: Candidate) -> float:
        return job.vcpus * self._usage.expected_run_seconds(share)

    def _advance(self, share: str) -> None:
        """Pull the share's next job and put the share back in the heap (or leave it out: none left)."""
        head = next(self._jobs[share], None)
        if head is None:
            self._heads.pop(share, None)
            return
        self._heads[share] = head
        # Ties go to the earliest submitted head job, then by name, so the order is deterministic.
        heapq.heappush(self._heap, (self._deficit(share), head.seq, share))

    def _cap(self) -> float:
        """What the active shares together may use: all but the reserve for shares not active yet."""
        return self._capacity * (1 - self._policy.reserved_fraction(self._active_count))

    def __next__(self) -> Candidate:
        while self._heap:
            _, _, share = heapq.heappop(self._heap)
            job = self._heads[share]
            if job.vcpus > self._capacity + _EPSILON:
                # Bigger than the whole queue: it never fits. Handed over unbooked, so the caller can
                # report it as a misfit, and the share's next job gets its turn.
                self._advance(share)
                return job
            after = self._used + job.vcpus
            new = share not in self._active
            # A new share's first job may use the reserve; from then on it is active and held to the
            # (now smaller) reserve like the rest.
            over_limit = after > self._limit + _EPSILON
            if over_limit or (not new and after > self._cap() + _EPSILON):
                # Over the limit, it is the weights that hold it back when other shares run jobs too.
                shared = self._running.get(share, 0.0) > _EPSILON and self._running_shares > 1
                has_part = not over_limit or shared
                self.held[job.job_id] = Cause.SHARE if has_part else Cause.NO_VCPUS
                # Its next job does not fit this pass; the share is not looked at again until the next.
                # (Its smaller jobs further back wait too: reading past the head would cost the backlog.)
                continue
            if new:
                self._active.add(share)
                self._active_count += 1
            self._used = after
            if self._running.get(share, 0.0) <= _EPSILON:
                self._running_shares += 1
            self._running[share] = self._running.get(share, 0.0) + job.vcpus
            self._to_come[share] = self._to_come.get(share, 0.0) + self._expected(share, job)
            self._booked[job.job_id] = share
            self._advance(share)
            return job
        raise StopIteration

    def release(self, job: Candidate) -> None:
        """The caller could not start a job this order gave it: give its vCPUs back for this pass.

        The share keeps its place in the heap as booked (slightly behind where it should be) and stays
        counted as active, both until the next pass; that only errs towards leaving capacity free.
        """
        share = self._booked.pop(job.job_id, None)
        if share is None:
            return
        self._used -= job.vcpus
        self._running[share] -= job.vcpus
        self._to_come[share] -= self._expected(share, job)
        if self._running[share] <= _EPSILON:
            self._running_shares -= 1


def _total(vcpus: Mapping[str, float]) -> float:
    return sum(v for v in vcpus.values() if v > 0)


def fair_share_order(
    waiting: Mapping[str, Iterable[Candidate]],
    running_vcpus: Mapping[str, float],
    usage: ShareUsage,
    policy: SharePolicy,
    capacity_vcpus: float,
    now: float,
    *,
    free_vcpus: float | None = None,
    still_to_come: Mapping[str, float] | None = None,
) -> FairShareOrder:
    """The order to try one fair-share queue's waiting jobs in this pass, lazily.

    `waiting` maps each share identifier to its RUNNABLE jobs, already in `within_share_key` order; an
    iterator is fine, and is read one job at a time. `running_vcpus` holds the vCPUs each share has
    STARTING or RUNNING in the queue now (every share, not only those waiting). `capacity_vcpus` is the
    most vCPUs the queue can reach (its environments' maxvCpus), the base of the compute reservation;
    `free_vcpus`, when given, is what is actually free for the queue now (other queues may share its
    environments). `still_to_come` is what the running jobs are expected to use yet
    (`ShareUsage.still_to_come`); without it they count for nothing beyond their usage so far.

    Each job yielded is booked for the rest of the pass: its share's deficit grows by its vCPUs × the
    share's expected run time / τ × weightFactor before the next choice (`release` undoes a booking the
    caller could not start). A job bigger than `capacity_vcpus` is yielded unbooked: it can never run,
    and the caller reports it. Iteration ends when no share's next job fits. Cost:
    O((yielded + shares) × log shares), whatever the backlog.
    """
    return FairShareOrder(
        waiting, running_vcpus, usage, policy, capacity_vcpus, now, free_vcpus, still_to_come
    )

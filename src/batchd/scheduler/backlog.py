"""The scheduler's in-memory view of queued work: RUNNABLE jobs in placement order, and who waits on whom.

Kept in memory so a pass costs what it places, not what is queued: the database stays the truth, and
every decision taken from this view is still a compare-and-set there.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from batchd.domain.arrays import parent_of
from batchd.domain.fair_share import within_share_key
from batchd.domain.placement import Candidate, QueueView, rank


class Backlog:
    def __init__(self) -> None:
        self._runnable: dict[str, Candidate] = {}
        # Sorted by placement rank; entries no longer in `_runnable` are skipped and compacted lazily.
        self._order: list[tuple[tuple[int, int], str]] = []
        self._priorities: dict[str, int] = {}
        self._sizes: Counter[float] = Counter()
        self._queues: Counter[str] = Counter()  # RUNNABLE jobs per queue ARN
        # The jobs of fair-share queues, by queue and share, each sorted by (-schedulingPriority, seq):
        # they are ordered by the fair-share arithmetic each pass, not by `_order`.
        self._shares: dict[str, dict[str, list[tuple[tuple[int, int], str]]]] = {}
        # The other jobs again, per queue in submission order: one queue's front is read without walking
        # `_order` past the other queues' jobs (GetJobQueueSnapshot).
        self._fifo: dict[str, list[tuple[int, str]]] = {}
        # PENDING jobs → dependencies not yet SUCCEEDED, and the reverse.
        self.pending: dict[str, set[str]] = {}
        self.waiters: dict[str, set[str]] = {}
        # Array parent → its children that PENDING jobs wait on (N_TO_N): decided when the parent ends,
        # since children it never created cannot end themselves.
        self.waited_children: dict[str, set[str]] = {}

    # --- RUNNABLE ---------------------------------------------------------------------------------------

    def add_runnable(self, job: Candidate, queues: Mapping[str, QueueView]) -> None:
        if job.job_id in self._runnable:
            return
        self._runnable[job.job_id] = job
        self._sizes[job.vcpus] += 1
        self._queues[job.queue_arn] += 1
        if job.share is not None:
            shares = self._shares.setdefault(job.queue_arn, {})
            bisect.insort(
                shares.setdefault(job.share, []), (within_share_key(job.priority, job.seq), job.job_id)
            )
            return
        bisect.insort(self._order, (rank(job, queues), job.job_id))
        bisect.insort(self._fifo.setdefault(job.queue_arn, []), (job.seq, job.job_id))

    def discard_runnable(self, job_id: str) -> None:
        job = self._runnable.pop(job_id, None)
        if job is not None:
            self._sizes[job.vcpus] -= 1
            if not self._sizes[job.vcpus]:
                del self._sizes[job.vcpus]
            self._queues[job.queue_arn] -= 1
            if not self._queues[job.queue_arn]:
                del self._queues[job.queue_arn]
            if job.share is not None:
                self._discard_shared(job)
            else:
                self._discard_fifo(job)
        if len(self._order) > 64 and len(self._order) > 2 * len(self._runnable):
            self._order = [entry for entry in self._order if entry[1] in self._runnable]

    def _discard_shared(self, job: Candidate) -> None:
        assert job.share is not None
        shares = self._shares.get(job.queue_arn, {})
        entries = shares.get(job.share, [])
        entry = (within_share_key(job.priority, job.seq), job.job_id)
        index = bisect.bisect_left(entries, entry)
        if index < len(entries) and entries[index] == entry:
            del entries[index]
        if not entries:
            shares.pop(job.share, None)
            if not shares:
                self._shares.pop(job.queue_arn, None)

    def _discard_fifo(self, job: Candidate) -> None:
        entries = self._fifo.get(job.queue_arn, [])
        entry = (job.seq, job.job_id)
        index = bisect.bisect_left(entries, entry)
        if index < len(entries) and entries[index] == entry:
            del entries[index]
        if not entries:
            self._fifo.pop(job.queue_arn, None)

    def has_runnable(self) -> bool:
        return bool(self._runnable)

    def smallest_vcpus(self) -> float:
        return min(self._sizes) if self._sizes else 0.0

    def queue_arns(self) -> Collection[str]:
        """The queues that have RUNNABLE jobs."""
        return self._queues.keys()

    def reprioritise(self, queues: Mapping[str, QueueView]) -> None:
        """Re-sorts when a queue's priority changed (UpdateJobQueue)."""
        priorities = {arn: q.priority for arn, q in queues.items()}
        if priorities != self._priorities:
            self._priorities = priorities
            self._order = sorted(
                (rank(job, queues), job.job_id) for job in self._runnable.values() if job.share is None
            )

    def fair_share_queues(self) -> Collection[str]:
        """The fair-share queues that have RUNNABLE jobs."""
        return self._shares.keys()

    def waiting_by_share(self, queue_arn: str) -> dict[str, Iterator[Candidate]]:
        """A fair-share queue's RUNNABLE jobs, per share, each lazily in (-schedulingPriority, seq) order."""
        return {share: self._jobs(entries) for share, entries in self._shares.get(queue_arn, {}).items()}

    def queue_order(self, queue_arn: str) -> Iterator[Candidate]:
        """One queue's RUNNABLE jobs without a share, lazily in the order `ranked` gives them (all of a
        queue's jobs have its priority, so that is submission order)."""
        return self._jobs(self._fifo.get(queue_arn, []))

    def _jobs(self, entries: list[tuple[Any, str]]) -> Iterator[Candidate]:
        for _, job_id in entries:
            job = self._runnable.get(job_id)
            if job is not None:
                yield job

    def ranked(self, fair_share: Iterable[tuple[int, Iterator[Candidate]]] = ()) -> Iterator[Candidate]:
        """Not a copy: a pass usually stops after a few jobs, and copying a long backlog would cost what
        is queued. The order must not change while this is iterated (placement is a pure function).

        `fair_share` holds each fair-share queue's order for this pass with its queue priority: a queue's
        jobs come where its priority puts them, after FIFO queues of the same priority."""
        pending = sorted(fair_share, key=lambda entry: -entry[0])
        for (negative_priority, _), job_id in self._order:
            while pending and -pending[0][0] < negative_priority:
                yield from pending.pop(0)[1]
            job = self._runnable.get(job_id)
            if job is not None:
                yield job
        for _, order in pending:
            yield from order

    # --- PENDING ----------------------------------------------------------------------------------------

    def wait(self, job_id: str, dependencies: Iterable[str]) -> None:
        deps = set(dependencies)
        self.pending[job_id] = deps
        for dep in deps:
            self.waiters.setdefault(dep, set()).add(job_id)
            parent = parent_of(dep)
            if parent is not None:
                self.waited_children.setdefault(parent, set()).add(dep)

    def forget(self, job_id: str) -> None:
        """The job ended or left the queue some other way (cancelled, queue deleted)."""
        self.discard_runnable(job_id)
        for dep in self.pending.pop(job_id, set()):
            waiting = self.waiters.get(dep)
            if waiting is not None:
                waiting.discard(job_id)
                if not waiting:
                    del self.waiters[dep]

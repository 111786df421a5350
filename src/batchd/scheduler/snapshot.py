"""GetJobQueueSnapshot's view of one queue, read from the scheduler's state without changing it
(docs/api.md, Job queue snapshots).

The front of the queue is the order the next pass would try the queue's RUNNABLE jobs in: its jobs
without a share in submission order, as `Backlog.ranked` gives them, then on a fair-share queue the
order the fair-share arithmetic gives now. That order is a dry run of `fair_share_order` over copies:
the running vCPUs are copied and the decayed usage is only read (not accrued), so nothing is booked.
It is computed with no capacity limit, as if every job ahead of a job started: a pass stops where
capacity runs out, and the next pass goes on in the same order. Cost:
O((jobs returned + shares) × log shares), whatever the backlog; plus one look at each STARTING/RUNNING
job for the utilization.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from batchd.domain.arns import name_of_arn
from batchd.domain.fair_share import SharePolicy, ShareUsage, fair_share_order
from batchd.domain.placement import Candidate, account_of_queue
from batchd.domain.queue_snapshot import QueueSnapshot
from batchd.domain.scheduling_policies import SP
from batchd.scheduler.backlog import Backlog
from batchd.store.sqlite import SqliteStore

# A capacity no queue reaches: the order is then never cut short (finite, so the reserve's arithmetic
# stays in ordinary numbers).
_UNLIMITED_VCPUS = 1e15


class Held(Protocol):
    """What a STARTING or RUNNING job holds (the scheduler's Booking)."""

    @property
    def queue_arn(self) -> str: ...

    @property
    def share(self) -> str | None: ...

    @property
    def vcpus(self) -> float: ...

    @property
    def since(self) -> float: ...


def queue_snapshot(
    backlog: Backlog,
    store: SqliteStore,
    held: Iterable[Held],
    usage: Mapping[str, ShareUsage],
    queue_arn: str,
    scheduling_policy_arn: str | None,
    limit: int,
) -> QueueSnapshot:
    total = 0.0
    by_share: dict[str, float] = {}
    running: list[tuple[str, float, float]] = []
    for booking in held:
        if booking.queue_arn != queue_arn:
            continue
        total += booking.vcpus
        if booking.share is not None:
            by_share[booking.share] = by_share.get(booking.share, 0.0) + booking.vcpus
            running.append((booking.share, booking.vcpus, booking.since))
    order: Iterator[Candidate] = backlog.queue_order(queue_arn)
    if scheduling_policy_arn:
        policy = _policy(store, queue_arn, scheduling_policy_arn)
        # A queue whose policy is gone has its shared jobs wait (as in the scheduler): they are not
        # in the front.
        if policy is not None:
            shared = _fair_share_front(backlog, queue_arn, policy, usage, by_share, running)
            order = itertools.chain(order, shared)
    front = tuple(job.job_id for job in itertools.islice(order, limit))
    return QueueSnapshot(front, total, by_share, fair_share=bool(scheduling_policy_arn))


def _policy(store: SqliteStore, queue_arn: str, policy_arn: str) -> SharePolicy | None:
    document = store.get_resource(SP, account_of_queue(queue_arn), name_of_arn(policy_arn))
    if document is None or document.get("arn") != policy_arn:
        return None
    return SharePolicy.from_document(document.get("fairsharePolicy"))


def _fair_share_front(
    backlog: Backlog,
    queue_arn: str,
    policy: SharePolicy,
    usage: Mapping[str, ShareUsage],
    by_share: Mapping[str, float],
    running: Iterable[tuple[str, float, float]],
) -> Iterator[Candidate]:
    known = usage.get(queue_arn)
    # A copy when the scheduler's own is for another window (the policy changed since its last pass).
    if known is None or known.window_seconds != policy.window_seconds:
        known = ShareUsage.for_policy(policy) if known is None else known.with_window(policy.window_seconds)
    # No capacity limit (and so no reserve that binds): the whole order, not one pass's share of it.
    now = time.time()
    return fair_share_order(
        backlog.waiting_by_share(queue_arn),
        dict(by_share),
        known,
        policy,
        _UNLIMITED_VCPUS,
        now,
        still_to_come=known.still_to_come(running, now),
    )

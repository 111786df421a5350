"""The scheduler's read-only view of one queue for GetJobQueueSnapshot: one queue's jobs in the order a
pass would try them, found without walking other queues' jobs, and nothing booked by looking."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchd.domain.fair_share import ShareUsage
from batchd.domain.placement import Candidate, QueueView
from batchd.domain.queue_snapshot import QueueSnapshot
from batchd.domain.scheduling_policies import SP
from batchd.scheduler.backlog import Backlog
from batchd.scheduler.snapshot import queue_snapshot
from batchd.store.sqlite import SqliteStore

ACCOUNT = "123456789012"
FIFO = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/fifo"
OTHER = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/other"
FAIR = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/fair"
POLICY = f"arn:aws:batch:us-east-1:{ACCOUNT}:scheduling-policy/p"
QUEUES = {
    FIFO: QueueView(FIFO, 1, ()),
    OTHER: QueueView(OTHER, 5, ()),
    FAIR: QueueView(FAIR, 1, (), POLICY),
}


@dataclass(frozen=True)
class Held:
    queue_arn: str
    share: str | None
    vcpus: float
    since: float = field(default_factory=time.time)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    db = SqliteStore(tmp_path / "batchd.db")
    with db.transaction():
        db.put_resource(
            SP,
            ACCOUNT,
            "p",
            {
                "arn": POLICY,
                "name": "p",
                "fairsharePolicy": {
                    "shareDecaySeconds": 600,
                    "computeReservation": 0,
                    "shareDistribution": [
                        {"shareIdentifier": "a", "weightFactor": 1.0},
                        {"shareIdentifier": "b", "weightFactor": 0.5},
                    ],
                },
            },
        )
    return db


def job(job_id: str, queue: str, seq: int, share: str | None = None, priority: int = 0) -> Candidate:
    return Candidate(job_id, queue, seq, 1.0, 64, share, priority)


def test_one_queue_in_submission_order_whatever_the_others_hold(store: SqliteStore) -> None:
    backlog = Backlog()
    for seq in (5, 1, 3):
        backlog.add_runnable(job(f"f{seq}", FIFO, seq), QUEUES)
    for seq in (2, 4):
        backlog.add_runnable(job(f"o{seq}", OTHER, seq), QUEUES)
    snapshot = queue_snapshot(backlog, store, [], {}, FIFO, None, 100)
    assert snapshot.front == ("f1", "f3", "f5")
    assert not snapshot.fair_share
    backlog.discard_runnable("f3")
    assert queue_snapshot(backlog, store, [], {}, FIFO, None, 100).front == ("f1", "f5")
    assert queue_snapshot(backlog, store, [], {}, FIFO, None, 1).front == ("f1",)
    # The same order a pass takes them in.
    assert [c.job_id for c in backlog.ranked() if c.queue_arn == FIFO] == ["f1", "f5"]
    backlog.discard_runnable("f1")
    backlog.discard_runnable("f5")
    assert queue_snapshot(backlog, store, [], {}, FIFO, None, 100).front == ()


def test_a_fair_share_queue_is_ordered_by_weighted_usage_and_nothing_is_booked(store: SqliteStore) -> None:
    backlog = Backlog()
    for i in range(3):
        backlog.add_runnable(job(f"a{i}", FAIR, i, "a"), QUEUES)
    for i in range(3):
        backlog.add_runnable(job(f"b{i}", FAIR, 10 + i, "b"), QUEUES)
    held = [Held(FAIR, "a", 2.0), Held(FAIR, "b", 1.0), Held(FIFO, None, 4.0)]
    usage = {FAIR: ShareUsage(600.0)}
    before = dict(usage[FAIR].entries)
    snapshot = queue_snapshot(backlog, store, held, usage, FAIR, POLICY, 100)
    # a: 2 running × 1.0 = 2; b: 1 × 0.5 = 0.5, so b's jobs go first, each adding 0.5, until b reaches 2.
    assert snapshot.front == ("b0", "b1", "b2", "a0", "a1", "a2")
    assert snapshot.fair_share and snapshot.total_vcpus == 3.0
    assert snapshot.top_shares() == [("a", 2.0), ("b", 1.0)] and snapshot.active_share_count == 2
    # Looking twice gives the same answer: the dry run books nothing, in the backlog or the usage.
    assert queue_snapshot(backlog, store, held, usage, FAIR, POLICY, 100) == snapshot
    assert usage[FAIR].entries == before
    assert queue_snapshot(backlog, store, held, usage, FAIR, POLICY, 2).front == ("b0", "b1")


def test_decayed_usage_counts_and_a_lost_policy_lists_nothing(store: SqliteStore) -> None:
    backlog = Backlog()
    backlog.add_runnable(job("a0", FAIR, 1, "a"), QUEUES)
    backlog.add_runnable(job("b0", FAIR, 2, "b"), QUEUES)
    usage = ShareUsage(600.0)
    usage.charge("a", 600.0 * 10, time.time())  # "a" used 10 vCPUs over the window
    assert queue_snapshot(backlog, store, [], {FAIR: usage}, FAIR, POLICY, 100).front == ("b0", "a0")
    gone = POLICY.replace("/p", "/gone")
    assert queue_snapshot(backlog, store, [], {}, FAIR, gone, 100).front == ()


def test_top_shares_are_the_twenty_largest() -> None:
    snapshot = QueueSnapshot((), 0.0, {f"s{i:02}": float(i) for i in range(30)}, fair_share=True)
    top = snapshot.top_shares()
    assert len(top) == 20 and top[0] == ("s29", 29.0) and top[-1] == ("s10", 10.0)
    assert snapshot.active_share_count == 29  # s00 holds nothing

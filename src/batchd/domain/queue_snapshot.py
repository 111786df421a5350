"""What GetJobQueueSnapshot reports of one job queue (docs/api.md, Job queue snapshots): handed from the
scheduler, which holds the backlog and the capacity in use, to the service, which answers the call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# AWS: "The first 100 RUNNABLE jobs in the job queue are listed in order of dispatch."
FRONT_OF_QUEUE_SIZE = 100
# AWS (FairshareUtilizationDetail): "A list of the top 20 shares with the highest capacity utilization".
TOP_SHARES = 20


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    # The ids of the queue's first RUNNABLE jobs, in the order the scheduler will try them.
    front: tuple[str, ...] = ()
    # vCPUs held now by the queue's STARTING and RUNNING jobs.
    total_vcpus: float = 0.0
    # On a fair-share queue: the same per share identifier (shares holding nothing are left out).
    share_vcpus: Mapping[str, float] = field(default_factory=dict)
    fair_share: bool = False

    def top_shares(self, limit: int = TOP_SHARES) -> list[tuple[str, float]]:
        """The shares using the most vCPUs, most first (ties by identifier, so the answer is stable)."""
        ranked = sorted(((s, v) for s, v in self.share_vcpus.items() if v > 0), key=lambda e: (-e[1], e[0]))
        return ranked[:limit]

    @property
    def active_share_count(self) -> int:
        """AWS: "The total number of active shares ... that are currently utilizing capacity"."""
        return sum(1 for v in self.share_vcpus.values() if v > 0)

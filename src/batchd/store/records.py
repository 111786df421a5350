"""Rows as the rest of batchd sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchd.domain.arrays import child_dependencies, child_doc
from batchd.domain.jobs import JobStatus, check_transition


@dataclass
class JobRecord:
    """A job: its indexed columns, its JobDetail document and the executor's private run state."""

    job_id: str
    account: str
    queue_arn: str
    name: str
    jd_arn: str
    status: JobStatus
    created_at: int
    doc: dict[str, Any]
    ce_arn: str | None = None
    run: dict[str, Any] | None = None
    seq: int = 0
    depends_on: list[str] = field(default_factory=list)
    # A child of an array job: its parent's id and its index there.
    array_parent: str | None = None
    array_index: int | None = None
    # Fair-share queues: the job's share and its effective scheduling priority (0 on FIFO queues).
    share_identifier: str | None = None
    scheduling_priority: int = 0

    @property
    def array_size(self) -> int | None:
        """The size of an array parent; None for ordinary jobs and for children."""
        size = (self.doc.get("arrayProperties") or {}).get("size")
        return None if size is None or self.array_parent is not None else int(size)

    def move_to(self, target: JobStatus, **changes: Any) -> None:
        """The one way a job changes status: checked against the allowed transitions, the column and the
        document changed together. The store writes it with a compare-and-set on the previous status."""
        check_transition(self.status, target, array_parent=self.array_size is not None)
        self.status = target
        self.doc["status"] = target.value
        self.doc.update(changes)


def children_of(parent: JobRecord, indexes: range) -> list[JobRecord]:
    """Children `indexes` of an array parent, as they are created: PENDING when they wait for a
    dependency of their own (N_TO_N, SEQUENTIAL), else RUNNABLE."""
    made = []
    for index in indexes:
        waits = [d["jobId"] for d in child_dependencies(parent.doc, index)]
        status = JobStatus.PENDING if waits else JobStatus.RUNNABLE
        doc = child_doc(parent.doc, index, status)
        made.append(
            JobRecord(
                job_id=doc["jobId"], account=parent.account, queue_arn=parent.queue_arn, name=parent.name,
                jd_arn=parent.jd_arn, status=status, created_at=parent.created_at, doc=doc, depends_on=waits,
                array_parent=parent.job_id, array_index=index, share_identifier=parent.share_identifier,
                scheduling_priority=parent.scheduling_priority,
            )
        )  # fmt: skip
    return made

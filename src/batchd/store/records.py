"""Rows as the rest of batchd sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchd.domain.jobs import JobStatus


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

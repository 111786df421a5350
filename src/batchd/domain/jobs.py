"""Job statuses and the transitions AWS Batch allows between them (SPEC §9)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_queued(self) -> bool:
        """Not yet placed: CancelJob still applies."""
        return self in QUEUED


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
QUEUED = frozenset({JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE})
ACTIVE = frozenset({JobStatus.STARTING, JobStatus.RUNNING})

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.SUBMITTED: frozenset({JobStatus.PENDING, JobStatus.RUNNABLE, JobStatus.FAILED}),
    JobStatus.PENDING: frozenset({JobStatus.RUNNABLE, JobStatus.FAILED}),
    JobStatus.RUNNABLE: frozenset({JobStatus.STARTING, JobStatus.FAILED}),
    JobStatus.STARTING: frozenset({JobStatus.RUNNING, JobStatus.RUNNABLE, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.RUNNABLE}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def can_move(current: JobStatus, target: JobStatus) -> bool:
    return target in ALLOWED[current]


# statusReason texts chosen to look like AWS's own (SPEC §9.1).
REASON_EXITED = "Essential container in task exited"
REASON_START_FAILED = "Task failed to start"
REASON_DEPENDENCY_FAILED = "Dependent Job failed"
REASON_TOO_BIG = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - All compute environments have a maxVcpu "
    "setting that is smaller than the job requirements."
)
REASON_QUEUE_DELETED = "Job queue deleted"
REASON_CE_DELETED = "Compute environment deleted"
REASON_TIMEOUT = "Job attempt duration exceeded timeout"
REASON_EXECUTOR_RESTARTED = "Executor restarted: the process ended while batchd was down"


def quota_reason(account: str) -> str:
    """The statusReason of a RUNNABLE job held back by its account's quota."""
    return (
        f"QUOTA:ACCOUNT_RUNNING_LIMIT - Account {account} has reached the running vCPU or memory quota "
        "set by the operator; the job starts when the account's running jobs free enough."
    )

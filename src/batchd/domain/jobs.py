"""Job statuses and the transitions AWS Batch allows between them (docs/api.md, Job statuses and statusReason;
docs/jobs.md, The job state machine)."""

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


# An array parent never runs: it waits for its own dependencies, then for its children, and ends with them.
PARENT_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.SUBMITTED: frozenset({JobStatus.PENDING, JobStatus.FAILED}),
    JobStatus.PENDING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.RUNNABLE: frozenset(),
    JobStatus.STARTING: frozenset(),
    JobStatus.RUNNING: frozenset(),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the job's state machine does not allow: a bug in the caller, never the client's."""


def can_move(current: JobStatus, target: JobStatus, *, array_parent: bool = False) -> bool:
    return target in (PARENT_ALLOWED if array_parent else ALLOWED)[current]


def check_transition(current: JobStatus, target: JobStatus, *, array_parent: bool = False) -> None:
    if not can_move(current, target, array_parent=array_parent):
        kind = "array parent" if array_parent else "job"
        raise IllegalTransition(f"a {kind} cannot move from {current.value} to {target.value}")


# statusReason texts chosen to look like AWS's own (docs/api.md, Job statuses and statusReason).
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
REASON_ARRAY_SUCCEEDED = "All child jobs succeeded"
REASON_EXECUTOR_RESTARTED = "Executor restarted: the process ended while batchd was down"


def quota_reason(account: str) -> str:
    """The statusReason of a RUNNABLE job held back by its account's quota."""
    return (
        f"QUOTA:ACCOUNT_RUNNING_LIMIT - Account {account} has reached the running vCPU or memory quota "
        "set by the operator; the job starts when the account's running jobs free enough."
    )


def array_failed_reason(failed: int, size: int) -> str:
    """The statusReason of an array parent whose children have all ended, some FAILED."""
    return f"{failed} of {size} child jobs failed"

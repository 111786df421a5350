"""Placement: which RUNNABLE jobs start now, and where (docs/api.md, Scheduling and capacity). Pure: no I/O,
no clock.

Jobs are taken by queue priority (higher first), then submission order; each tries its queue's compute
environments in ascending `order` and goes to the first with free vCPUs for it. Memory is booked
against the one host all environments share. A job that fits nowhere now waits without blocking the
jobs behind it; a job too big for every environment of its queue is reported as a misfit.

Every job a pass looks at and cannot place gets a cause in `Plan.causes` (docs/jobs.md, Why a job
waits); jobs the pass never looks at get none, and keep the reason they had.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field


class Cause:
    """Why a job a pass looked at was not placed; batchd.domain.waiting turns each into a statusReason."""

    # Bigger than every environment of its queue, or than the host's memory: it never fits as things are.
    TOO_BIG = "TOO_BIG"
    # No open environment of its queue has the vCPUs free now.
    NO_VCPUS = "NO_VCPUS"
    # Not enough host memory free now.
    NO_MEMORY = "NO_MEMORY"
    # On a fair-share queue: its share has its part (the weights, or the compute reservation held back).
    SHARE = "SHARE"
    # Its account is at its quota.
    QUOTA = "QUOTA"
    # A consumable resource the job needs has less available than it asks for.
    CONSUMABLE = "CONSUMABLE"


# Once every queue with jobs is full, the scan goes on this many jobs more to find the first job of
# each full queue (the job the queue's reason is reported on), and no further.
HEAD_LOOKAHEAD = 256


@dataclass(frozen=True, slots=True)
class Candidate:
    job_id: str
    queue_arn: str
    seq: int
    vcpus: float
    memory_mib: int
    # On a fair-share queue: the job's share identifier and schedulingPriority (docs/jobs.md, Fair share).
    share: str | None = None
    priority: int = 0
    # Consumable resources the job holds while it runs: (resource ARN, quantity) pairs.
    consumables: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class QueueView:
    arn: str
    priority: int
    # Compute environment ARNs in ascending `order`.
    environments: tuple[str, ...]
    # A fair-share queue's scheduling policy; None for a FIFO queue.
    scheduling_policy_arn: str | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentView:
    arn: str
    capacity_vcpus: float
    used_vcpus: float
    # ENABLED and VALID: takes new jobs.
    open: bool


@dataclass(frozen=True, slots=True)
class Assignment:
    job_id: str
    environment_arn: str


@dataclass(slots=True)
class Budget:
    """What an account may still start under the operator's quota; None is no limit."""

    vcpus: float | None
    memory_mib: float | None

    def admits(self, job: Candidate) -> bool:
        return (self.vcpus is None or job.vcpus <= self.vcpus) and (
            self.memory_mib is None or job.memory_mib <= self.memory_mib
        )

    def book(self, job: Candidate) -> None:
        self.book_amounts(job.vcpus, job.memory_mib)

    def book_amounts(self, vcpus: float, memory_mib: float) -> None:
        if self.vcpus is not None:
            self.vcpus -= vcpus
        if self.memory_mib is not None:
            self.memory_mib -= memory_mib


def account_of_queue(queue_arn: str) -> str:
    """arn:aws:batch:REGION:ACCOUNT:job-queue/NAME → ACCOUNT."""
    return queue_arn.split(":", 5)[4]


@dataclass(frozen=True, slots=True)
class Plan:
    assignments: list[Assignment]
    # Jobs no environment of their queue could ever hold (bigger than capacity or host memory).
    misfits: list[str]
    # Jobs that would fit but whose account is at its quota.
    over_quota: list[str] = field(default_factory=list)
    # Every job looked at and not placed → its `Cause`.
    causes: dict[str, str] = field(default_factory=dict)


def rank(job: Candidate, queues: Mapping[str, QueueView]) -> tuple[int, int]:
    """The order jobs are considered in: higher queue priority first, then submission order."""
    queue = queues.get(job.queue_arn)
    return (-(queue.priority if queue else 0), job.seq)


def _has_room(
    queue: QueueView | None,
    environments: Mapping[str, EnvironmentView],
    free: Mapping[str, float],
    vcpus: float,
) -> bool:
    """Whether some open environment of the queue has `vcpus` free."""
    if queue is None:
        return False
    return any(environments[a].open and free[a] >= vcpus for a in queue.environments if a in environments)


def place(
    candidates: Iterable[Candidate],
    queues: Mapping[str, QueueView],
    environments: Mapping[str, EnvironmentView],
    free_memory_mib: int,
    host_memory_mib: int,
    *,
    ranked: bool = False,
    smallest_vcpus: float = 0.0,
    candidate_queues: Collection[str] | None = None,
    budgets: Mapping[str, Budget] | None = None,
    consumables: Mapping[str, int] | None = None,
) -> Plan:
    """`ranked=True` says the candidates already come in `rank` order (the scheduler keeps them so).

    `smallest_vcpus` is the smallest job among the candidates: once no open environment has that much
    free, nothing else can start and the rest of a long backlog is not looked at. With
    `candidate_queues`, the queues the candidates come from, that holds per queue: the jobs of a queue
    whose environments are all full are passed over without a look (their misfits are found on a later
    pass), and the scan stops once every queue is full, even while an environment no queue with jobs
    uses stands idle.

    `budgets` holds, per account with a quota, what it may still start: a job beyond it waits (reported
    in `over_quota`) without holding back other accounts' jobs. The budgets are booked in place.

    `consumables` holds the available quantity of each consumable resource (by ARN): a job waits until
    every resource it names has its quantity available, without holding back the jobs behind it, and
    what it is given is booked as the pass goes. A resource not listed (deleted) has nothing available.
    """
    left = dict(consumables or {})
    free = {arn: env.capacity_vcpus - env.used_vcpus for arn, env in environments.items()}
    open_arns = [arn for arn, env in environments.items() if env.open]
    assignments: list[Assignment] = []
    misfits: list[str] = []
    over_quota: list[str] = []
    # The queues that may still start a job; None when not known, and the check is global.
    live: set[str] | None = None
    if smallest_vcpus > 0 and candidate_queues is not None:
        live = {a for a in candidate_queues if _has_room(queues.get(a), environments, free, smallest_vcpus)}
    causes: dict[str, str] = {}
    # Full queues whose first job this pass has been given its cause.
    reported: set[str] = set()
    lookahead = HEAD_LOOKAHEAD
    ordered = candidates if ranked else sorted(candidates, key=lambda job: rank(job, queues))
    for job in ordered:
        queue = queues.get(job.queue_arn)
        if live is not None:
            if not live:
                assert candidate_queues is not None
                lookahead -= 1
                if lookahead < 0 or reported.issuperset(candidate_queues):
                    break
            if job.queue_arn not in live:
                if queue is not None and job.queue_arn not in reported:
                    cause = _blocked(job, queue, environments, host_memory_mib)
                    causes[job.job_id] = cause
                    if cause != Cause.TOO_BIG:  # a misfit holds no one back: the queue's next job is its head
                        reported.add(job.queue_arn)
                    if not live and reported.issuperset(candidate_queues or ()):
                        break
                continue
        elif smallest_vcpus > 0 and all(free[arn] < smallest_vcpus for arn in open_arns):
            if queue is not None:
                causes[job.job_id] = _blocked(job, queue, environments, host_memory_mib)
            break
        if queue is None:
            continue
        attached = [environments[arn] for arn in queue.environments if arn in environments]
        if job.memory_mib > host_memory_mib or not any(e.capacity_vcpus >= job.vcpus for e in attached):
            misfits.append(job.job_id)
            causes[job.job_id] = Cause.TOO_BIG
            continue
        if job.memory_mib > free_memory_mib:
            causes[job.job_id] = Cause.NO_MEMORY
            continue
        budget = None if budgets is None else budgets.get(account_of_queue(job.queue_arn))
        if budget is not None and not budget.admits(job):
            over_quota.append(job.job_id)
            causes[job.job_id] = Cause.QUOTA
            continue
        if job.consumables and not all(left.get(arn, 0) >= q for arn, q in job.consumables):
            causes[job.job_id] = Cause.CONSUMABLE
            continue
        for env in attached:
            if env.open and free[env.arn] >= job.vcpus:
                free[env.arn] -= job.vcpus
                free_memory_mib -= job.memory_mib
                if budget is not None:
                    budget.book(job)
                for arn, quantity in job.consumables:
                    left[arn] -= quantity
                assignments.append(Assignment(job.job_id, env.arn))
                if live is not None and free[env.arn] < smallest_vcpus:
                    # That environment just filled up: so may every queue that reaches only it.
                    live = {a for a in live if _has_room(queues.get(a), environments, free, smallest_vcpus)}
                break
        else:
            causes[job.job_id] = Cause.NO_VCPUS
    return Plan(assignments, misfits, over_quota, causes)


def _blocked(
    job: Candidate, queue: QueueView, environments: Mapping[str, EnvironmentView], host_memory_mib: int
) -> str:
    """The cause of a job whose queue has no room left this pass: too big for it ever, or no vCPUs now."""
    attached = [environments[arn] for arn in queue.environments if arn in environments]
    if job.memory_mib > host_memory_mib or not any(e.capacity_vcpus >= job.vcpus for e in attached):
        return Cause.TOO_BIG
    return Cause.NO_VCPUS

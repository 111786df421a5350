"""Placement: which RUNNABLE jobs start now, and where (SPEC §11, §18). Pure: no I/O, no clock.

Jobs are taken by queue priority (higher first), then submission order; each tries its queue's compute
environments in ascending `order` and goes to the first with free vCPUs for it. Memory is booked
against the one host all environments share. A job that fits nowhere now waits without blocking the
jobs behind it; a job too big for every environment of its queue is reported as a misfit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    job_id: str
    queue_arn: str
    seq: int
    vcpus: float
    memory_mib: int


@dataclass(frozen=True, slots=True)
class QueueView:
    arn: str
    priority: int
    # Compute environment ARNs in ascending `order`.
    environments: tuple[str, ...]


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


@dataclass(frozen=True, slots=True)
class Plan:
    assignments: list[Assignment]
    # Jobs no environment of their queue could ever hold (bigger than capacity or host memory).
    misfits: list[str]


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
) -> Plan:
    """`ranked=True` says the candidates already come in `rank` order (the scheduler keeps them so).

    `smallest_vcpus` is the smallest job among the candidates: once no open environment has that much
    free, nothing else can start and the rest of a long backlog is not looked at. With
    `candidate_queues`, the queues the candidates come from, that holds per queue: the jobs of a queue
    whose environments are all full are passed over without a look (their misfits are found on a later
    pass), and the scan stops once every queue is full, even while an environment no queue with jobs
    uses stands idle.
    """
    free = {arn: env.capacity_vcpus - env.used_vcpus for arn, env in environments.items()}
    open_arns = [arn for arn, env in environments.items() if env.open]
    assignments: list[Assignment] = []
    misfits: list[str] = []
    # The queues that may still start a job; None when not known, and the check is global.
    live: set[str] | None = None
    if smallest_vcpus > 0 and candidate_queues is not None:
        live = {a for a in candidate_queues if _has_room(queues.get(a), environments, free, smallest_vcpus)}
    ordered = candidates if ranked else sorted(candidates, key=lambda job: rank(job, queues))
    for job in ordered:
        if live is not None:
            if not live:
                break
            if job.queue_arn not in live:
                continue
        elif smallest_vcpus > 0 and all(free[arn] < smallest_vcpus for arn in open_arns):
            break
        queue = queues.get(job.queue_arn)
        if queue is None:
            continue
        attached = [environments[arn] for arn in queue.environments if arn in environments]
        if job.memory_mib > host_memory_mib or not any(e.capacity_vcpus >= job.vcpus for e in attached):
            misfits.append(job.job_id)
            continue
        if job.memory_mib > free_memory_mib:
            continue
        for env in attached:
            if env.open and free[env.arn] >= job.vcpus:
                free[env.arn] -= job.vcpus
                free_memory_mib -= job.memory_mib
                assignments.append(Assignment(job.job_id, env.arn))
                if live is not None and free[env.arn] < smallest_vcpus:
                    # That environment just filled up: so may every queue that reaches only it.
                    live = {a for a in live if _has_room(queues.get(a), environments, free, smallest_vcpus)}
                break
    return Plan(assignments, misfits)

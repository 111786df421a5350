"""From a job record to what an executor runs, and from an attempt's end to the job's next state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchd.domain.amounts import resource_amounts
from batchd.domain.arns import name_of_arn, scope_of_arn
from batchd.domain.jobs import REASON_EXITED, REASON_START_FAILED, REASON_TIMEOUT, JobStatus
from batchd.domain.retries import should_retry
from batchd.executors.base import AttemptEnd, LaunchSpec
from batchd.logs.files import log_path
from batchd.store.records import JobRecord
from batchd.tenancy import Tenancy


def launch_spec(job: JobRecord, logs_dir: Path, work_dir: Path, *, confined: bool = False) -> LaunchSpec:
    """Deterministic from the stored job, so a restarted server rebuilds the same spec."""
    run = job.run or {}
    container: dict[str, Any] = job.doc["container"]
    vcpus, memory = resource_amounts(container)
    region = scope_of_arn(job.doc["jobArn"]).region
    # What ECS gives every task (Metaflow's @batch reads AWS_EXECUTION_ENV with no default); the
    # definition's own values win, as they do on ECS, but not over the reserved AWS_BATCH_* below.
    environment = {
        "AWS_EXECUTION_ENV": execution_env(job.doc),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    environment.update({e["name"]: e.get("value", "") for e in container.get("environment") or []})
    environment.update(
        AWS_BATCH_JOB_ID=job.job_id,
        AWS_BATCH_JOB_ATTEMPT=str(run["attempt"]),
        AWS_BATCH_JQ_NAME=name_of_arn(job.queue_arn),
        AWS_BATCH_CE_NAME=name_of_arn(job.ce_arn or ""),
    )
    if job.array_index is not None:
        environment["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
    return LaunchSpec(
        job_id=job.job_id,
        attempt=int(run["attempt"]),
        image=str(container.get("image", "")),
        command=list(container.get("command") or []),
        environment=environment,
        vcpus=vcpus or 1.0,
        memory_mib=memory or 4,
        log_path=log_path(logs_dir, job.account, run["logStreamName"]),
        work_dir=work_dir / job.job_id / str(run["attempt"]),
        volumes=list(container.get("volumes") or []),
        mount_points=list(container.get("mountPoints") or []),
        readonly_root=bool(container.get("readonlyRootFilesystem")),
        privileged=bool(container.get("privileged")),
        ulimits=list(container.get("ulimits") or []),
        user=container.get("user") or None,
        confined=confined,
    )


def execution_env(doc: dict[str, Any]) -> str:
    """AWS_EXECUTION_ENV as ECS sets it. A FARGATE definition runs only in FARGATE environments (a
    queue's environments are all EC2/SPOT or all FARGATE), so the job itself says which one it ran in."""
    return "AWS_ECS_FARGATE" if "FARGATE" in (doc.get("platformCapabilities") or []) else "AWS_ECS_EC2"


def ecs_arns(job_arn: str, task_id: str, ce_arn: str | None) -> tuple[str, str]:
    """The ECS task and container instance an attempt ran as, in the job's partition, region and account.

    The instance is named after the environment and the task, so each attempt names one stable instance.
    """
    scope = scope_of_arn(job_arn)
    cluster = name_of_arn(ce_arn or "") or "batchd"
    return (
        scope.arn("task", task_id, service="ecs"),
        scope.arn("container-instance", f"{cluster}/{task_id}", service="ecs"),
    )


def confinement_problem(spec: LaunchSpec, executor: str, tenancy: Tenancy) -> str | None:
    """Why a confined attempt may not start as stored: RegisterJobDefinition refuses the same for
    untrusted callers, so this catches definitions stored before the operator changed the trust."""
    if not spec.confined:
        return None
    if executor != "docker":
        return f"CannotStartContainerError: the {executor} executor is for trusted accounts only"
    if spec.privileged:
        return "CannotStartContainerError: privileged containers are for trusted accounts only"
    for volume in spec.volumes:
        source = (volume.get("host") or {}).get("sourcePath")
        if source and not tenancy.host_path_allowed(str(source)):
            return f"CannotStartContainerError: host mount of volume {volume.get('name')} is not allowed"
    return None


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    status_reason: str


def outcome(job: JobRecord, end: AttemptEnd) -> Outcome:
    """SUCCEEDED, FAILED, or RUNNABLE again for a retry. Stops and timeouts are never retried."""
    run = job.run or {}
    stop = run.get("stop")
    if stop:
        return Outcome(JobStatus.FAILED, str(stop["reason"]))
    if run.get("timedOut"):
        return Outcome(JobStatus.FAILED, REASON_TIMEOUT)
    if end.exit_code == 0 and not end.launch_failed:
        return Outcome(JobStatus.SUCCEEDED, REASON_EXITED)
    if end.launch_failed:
        status_reason = REASON_START_FAILED
    elif end.exit_code is None:
        status_reason = end.reason or "Executor lost"
    else:
        status_reason = REASON_EXITED
    attempts_made = len(job.doc.get("attempts") or []) + 1
    if should_retry(job.doc.get("retryStrategy"), attempts_made, end.exit_code, end.reason, status_reason):
        return Outcome(JobStatus.RUNNABLE, status_reason)
    return Outcome(JobStatus.FAILED, status_reason)

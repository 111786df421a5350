"""SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob (SPEC §8)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from batchd.domain.jobs import JobStatus
from batchd.domain.names import JOB_ID, check_job_id, check_job_name
from batchd.domain.parameters import effective_parameters, merge_environment, resource_amounts, substitute
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps, check_list_size, check_tags, new_id, now_ms
from batchd.service.job_definitions import (
    JobDefinitions,
    check_amounts,
    check_command,
    check_environment_names,
    check_retry_strategy,
    check_timeout,
    parse_reference,
)
from batchd.service.job_queues import JobQueues
from batchd.service.lifecycle import fail_queued, request_stop
from batchd.service.pagination import page_size
from batchd.store.records import JobRecord

MAX_SUBMIT_BYTES = 30 * 1024
MAX_REASON = 1024
EPOCH_MS = re.compile(r"[0-9]{1,19}")
MAX_EPOCH_MS = 2**63 - 1
LIST_FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT")
# Container members a job shows in DescribeJobs, taken from its definition.
CONTAINER_MEMBERS = (
    "image", "vcpus", "memory", "command", "jobRoleArn", "executionRoleArn", "volumes", "environment",
    "mountPoints", "readonlyRootFilesystem", "ulimits", "privileged", "user", "instanceType",
    "resourceRequirements", "linuxParameters", "logConfiguration", "secrets", "networkConfiguration",
    "fargatePlatformConfiguration", "ephemeralStorage", "runtimePlatform", "repositoryCredentials",
    "enableExecuteCommand",
)  # fmt: skip


def effective_container(
    definition: dict[str, Any], overrides: dict[str, Any], parameters: dict[str, str]
) -> dict[str, Any]:
    """The definition's container with the submitter's overrides merged and `Ref::` substituted."""
    base = definition.get("containerProperties") or {}
    container: dict[str, Any] = {k: copy.deepcopy(base[k]) for k in CONTAINER_MEMBERS if k in base}
    if overrides.get("command") is not None:
        container["command"] = list(overrides["command"])
    if overrides.get("environment"):
        container["environment"] = merge_environment(
            container.get("environment") or [], overrides["environment"]
        )
    requirements = {r["type"]: r for r in container.get("resourceRequirements") or []}
    for req in overrides.get("resourceRequirements") or []:
        requirements[req["type"]] = req
    if requirements:
        container["resourceRequirements"] = list(requirements.values())
    for member in ("vcpus", "memory"):
        if overrides.get(member) is not None:
            container[member] = overrides[member]
            # An explicit override wins over the definition's requirement of the same kind.
            kind = "VCPU" if member == "vcpus" else "MEMORY"
            if kind in requirements and not any(
                r["type"] == kind for r in overrides.get("resourceRequirements") or []
            ):
                container["resourceRequirements"] = [
                    r for r in container["resourceRequirements"] if r["type"] != kind
                ]
    vcpus, memory = resource_amounts(container)
    container["vcpus"], container["memory"] = vcpus, memory
    if isinstance(vcpus, float):
        if vcpus.is_integer():
            container["vcpus"] = int(vcpus)
        else:
            # The wire's vcpus is an Integer: AWS shows fractional vCPUs only in resourceRequirements.
            del container["vcpus"]
    container["command"] = substitute(container.get("command") or [], parameters)
    for member in ("environment", "volumes", "mountPoints", "ulimits"):
        container.setdefault(member, [])
    return container


class Jobs:
    def __init__(self, deps: ServiceDeps, queues: JobQueues, definitions: JobDefinitions) -> None:
        self._deps = deps
        self._store = deps.store
        self._queues = queues
        self._definitions = definitions

    def submit(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["jobName"]
        check_job_name(name)
        if len(json.dumps(params)) > MAX_SUBMIT_BYTES:
            raise ClientException(f"The SubmitJob request is larger than {MAX_SUBMIT_BYTES // 1024} KiB.")
        if (params.get("arrayProperties") or {}).get("size") is not None:
            raise ClientException("Array jobs (arrayProperties.size) are not supported by batchd.")
        if params.get("nodeOverrides"):
            raise ClientException(
                "nodeOverrides is not supported by batchd: multi-node jobs cannot run here."
            )
        overrides = params.get("containerOverrides") or {}
        check_environment_names(overrides.get("environment"), "containerOverrides.environment")
        check_command(overrides.get("command"), "containerOverrides.command")
        vcpus, memory = resource_amounts(overrides, strict=True)
        check_amounts(vcpus, memory, "containerOverrides", required=False)
        check_retry_strategy(params.get("retryStrategy"))
        check_timeout(params.get("timeout"), self._deps.min_timeout_seconds)
        check_tags(params.get("tags"))
        depends_on = self._dependencies(caller, params.get("dependsOn") or [])

        queue = self._queues.resolve(caller, params["jobQueue"])
        if queue.get("state") != "ENABLED":
            raise ClientException(
                f"JobQueue {queue['jobQueueName']} is DISABLED and does not accept new jobs."
            )
        definition = self._definitions.resolve_active(caller, params["jobDefinition"])
        parameters = effective_parameters(definition.get("parameters") or {}, params.get("parameters") or {})
        container = effective_container(definition, overrides, parameters)
        check_amounts(*resource_amounts(container), "The job's container", required=True)
        with self._store.transaction():
            missing = {d for d in depends_on} - self._store.existing_job_ids(caller.account, depends_on)
            if missing:
                raise ClientException(f"Dependent job {sorted(missing)[0]} does not exist.")
            self._check_queued_quota(caller)
            job_id = new_id()
            doc: dict[str, Any] = {
                "jobArn": caller.scope.job_arn(job_id),
                "jobName": name,
                "jobId": job_id,
                "jobQueue": queue["jobQueueArn"],
                "status": JobStatus.SUBMITTED.value,
                "attempts": [],
                "createdAt": now_ms(),
                "dependsOn": [{"jobId": d} for d in depends_on],
                "jobDefinition": definition["jobDefinitionArn"],
                "parameters": parameters,
                "container": container,
                "tags": {**((definition.get("tags") or {}) if params.get("propagateTags") else {}),
                         **(params.get("tags") or {})},
                "platformCapabilities": definition.get("platformCapabilities") or [],
                "propagateTags": bool(params.get("propagateTags", definition.get("propagateTags", False))),
                "isCancelled": False,
                "isTerminated": False,
            }  # fmt: skip
            for member in ("retryStrategy", "timeout"):
                value = params.get(member) or definition.get(member)
                if value:
                    doc[member] = value
            if params.get("shareIdentifier"):
                doc["shareIdentifier"] = params["shareIdentifier"]
            self._store.insert_job(
                JobRecord(
                    job_id=job_id,
                    account=caller.account,
                    queue_arn=queue["jobQueueArn"],
                    name=name,
                    jd_arn=definition["jobDefinitionArn"],
                    status=JobStatus.SUBMITTED,
                    created_at=doc["createdAt"],
                    doc=doc,
                    depends_on=depends_on,
                )
            )
        self._deps.notify()
        return {"jobArn": doc["jobArn"], "jobName": name, "jobId": job_id}

    def _check_queued_quota(self, caller: Caller) -> None:
        limit = self._deps.tenancy.quota(caller.account).queued_jobs
        if limit is not None and self._store.count_queued(caller.account, limit) >= limit:
            raise ClientException(
                f"Account {caller.account} already has {limit} queued jobs (SUBMITTED, PENDING or RUNNABLE), "
                "the limit the operator set: submit again once some have started."
            )

    def _dependencies(self, caller: Caller, entries: list[dict[str, Any]]) -> list[str]:
        if len(entries) > self._deps.max_depends_on:
            raise ClientException(
                f"dependsOn may name at most {self._deps.max_depends_on} jobs, got {len(entries)}."
            )
        ids: list[str] = []
        for entry in entries:
            job_id = entry.get("jobId")
            if not job_id:
                raise ClientException("Every dependsOn entry needs a jobId.")
            if entry.get("type"):
                raise ClientException(
                    f"dependsOn type {entry['type']} applies to array jobs, which batchd does not support."
                )
            check_job_id(job_id, "dependsOn jobId")
            if job_id not in ids:
                ids.append(job_id)
        return ids

    def describe(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        ids: list[str] = params["jobs"]
        check_list_size(ids, "jobs")
        for job_id in ids:
            if not JOB_ID.fullmatch(job_id):
                check_job_id(job_id, "job id")
        found = self._store.get_jobs(caller.account, ids)
        return {"jobs": [found[i].doc for i in dict.fromkeys(ids) if i in found]}

    def list(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("arrayJobId") or params.get("multiNodeJobId"):
            raise ClientException(
                "arrayJobId and multiNodeJobId are not supported: batchd runs no such jobs."
            )
        if not params.get("jobQueue"):
            raise ClientException("jobQueue is required.")
        queue = self._queues.resolve(caller, params["jobQueue"])
        limit = page_size(params)
        query = _list_query(caller, params)
        paginator = self._deps.paginator
        filters = [queue["jobQueueArn"], sorted(query.items(), key=lambda kv: kv[0])]
        key = paginator.resume("ListJobs", caller.account, filters, params.get("nextToken"))
        after = None if key is None else (int(key[0]), str(key[1]))
        rows = self._store.list_jobs(
            caller.account, queue["jobQueueArn"], after=after, limit=limit + 1, **query
        )
        out: dict[str, Any] = {"jobSummaryList": [_summary(r) for r in rows[:limit]]}
        if len(rows) > limit:
            last = rows[limit - 1]
            out["nextToken"] = paginator.issue(
                "ListJobs", caller.account, filters, [last.created_at, last.job_id]
            )
        return out

    def cancel(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job, reason = self._target(caller, params)
        if job.status.is_queued:
            with self._store.transaction():
                fail_queued(self._store, job, reason, isCancelled=True)
            self._deps.notify(ended=[job.job_id])
        return {}

    def terminate(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        job, reason = self._target(caller, params)
        if job.status.is_queued:
            with self._store.transaction():
                fail_queued(self._store, job, reason, isTerminated=True)
            self._deps.notify(ended=[job.job_id])
        elif not job.status.is_terminal:
            with self._store.transaction():
                request_stop(self._store, job, reason, isTerminated=True)
            self._deps.notify(stop=[job.job_id])
        return {}

    def _target(self, caller: Caller, params: dict[str, Any]) -> tuple[JobRecord, str]:
        job_id, reason = params["jobId"], params["reason"]
        check_job_id(job_id)
        if not reason.strip():
            raise ClientException("reason must not be empty: say why the job is being stopped.")
        if len(reason) > MAX_REASON:
            raise ClientException(f"reason must be at most {MAX_REASON} characters, got {len(reason)}.")
        job = self._store.get_job(job_id, caller.account)
        if job is None:
            raise ClientException(f"Job {job_id} does not exist.")
        return job, reason


def _list_query(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = dict(
        status=None, name=None, name_prefix=None, jd_arn=None, jd_arn_prefix=None,
        created_before=None, created_after=None,
    )  # fmt: skip
    filters = params.get("filters")
    if not filters:
        query["status"] = JobStatus(params.get("jobStatus") or "RUNNING")
        return query
    for entry in filters:
        name, values = entry.get("name"), entry.get("values") or []
        if name not in LIST_FILTERS:
            raise ClientException(
                f"ListJobs filter name must be one of {', '.join(LIST_FILTERS)}, got '{name}'."
            )
        if len(values) != 1:
            raise ClientException(f"ListJobs filter {name} takes exactly one value.")
        value = values[0]
        if name == "JOB_NAME":
            if value.endswith("*"):
                query["name_prefix"] = value[:-1]
            else:
                query["name"] = value
        elif name == "JOB_DEFINITION":
            parsed = parse_reference(caller.scope, value, "ListJobs filter JOB_DEFINITION")
            if parsed is None:
                query["jd_arn"] = ""  # names no definition, so matches no job
            elif parsed[1] is None:
                query["jd_arn_prefix"] = caller.scope.job_definition_arn(parsed[0], 0)[:-1]
            else:
                query["jd_arn"] = caller.scope.job_definition_arn(parsed[0], parsed[1])
        else:
            query["created_before" if name == "BEFORE_CREATED_AT" else "created_after"] = _epoch_ms(
                name, value
            )
    return query


def _epoch_ms(name: str, value: Any) -> int:
    """A filter's time: ASCII digits for epoch milliseconds that SQLite's 64-bit integers can hold."""
    if not isinstance(value, str) or not EPOCH_MS.fullmatch(value) or int(value) > MAX_EPOCH_MS:
        raise ClientException(
            f"ListJobs filter {name} needs a time in epoch milliseconds: "
            f"ASCII digits for 0 to {MAX_EPOCH_MS}, got '{str(value)[:40]}'."
        )
    return int(value)


def _summary(job: JobRecord) -> dict[str, Any]:
    doc = job.doc
    summary: dict[str, Any] = {
        k: doc[k]
        for k in ("jobArn", "jobId", "jobName", "createdAt", "status", "statusReason", "startedAt",
                  "stoppedAt", "jobDefinition", "isCancelled", "isTerminated")
        if k in doc
    }  # fmt: skip
    container = doc.get("container") or {}
    brief = {k: container[k] for k in ("exitCode", "reason") if k in container}
    if brief:
        summary["container"] = brief
    return summary

"""SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob (docs/api.md, Jobs)."""

from __future__ import annotations

import json
import re
from typing import Any

from batchd.clock import now_ms
from batchd.domain.arrays import array_size_of
from batchd.domain.consumable_resources import as_properties, merged, needs_of
from batchd.domain.containers import check_container_overrides, job_container
from batchd.domain.dependencies import depends_on_entries
from batchd.domain.job_definitions import parse_reference
from batchd.domain.jobs import JobStatus
from batchd.domain.names import JOB_ID, check_job_id, check_job_name
from batchd.domain.parameters import effective_parameters
from batchd.domain.retries import check_retry_strategy
from batchd.domain.scheduling_policies import check_job_share_identifier, check_scheduling_priority
from batchd.domain.tags import check_tags
from batchd.domain.timeouts import check_timeout
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps, check_list_size, new_id
from batchd.service.consumable_resources import ConsumableResources
from batchd.service.job_definitions import JobDefinitions
from batchd.service.job_queues import JobQueues
from batchd.service.pagination import page_size
from batchd.store.lifecycle import Endings, end_job
from batchd.store.records import JobRecord

MAX_SUBMIT_BYTES = 30 * 1024
MAX_REASON = 1024
EPOCH_MS = re.compile(r"[0-9]{1,19}")
MAX_EPOCH_MS = 2**63 - 1
LIST_FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER")


class Jobs:
    def __init__(
        self,
        deps: ServiceDeps,
        queues: JobQueues,
        definitions: JobDefinitions,
        consumables: ConsumableResources | None = None,
    ) -> None:
        self._deps = deps
        self._store = deps.store
        self._consumables = consumables or ConsumableResources(deps)
        self._queues = queues
        self._definitions = definitions

    def submit_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["jobName"]
        check_job_name(name)
        if len(json.dumps(params)) > MAX_SUBMIT_BYTES:
            raise ClientException(f"The SubmitJob request is larger than {MAX_SUBMIT_BYTES // 1024} KiB.")
        array_size = array_size_of(params.get("arrayProperties"))
        if params.get("nodeOverrides"):
            raise ClientException(
                "nodeOverrides is not supported by batchd: multi-node jobs cannot run here."
            )
        overrides = params.get("containerOverrides") or {}
        check_container_overrides(overrides)
        check_retry_strategy(params.get("retryStrategy"))
        check_timeout(params.get("timeout"), self._deps.min_timeout_seconds)
        check_tags(params.get("tags"))
        dependencies = depends_on_entries(
            params.get("dependsOn") or [], array_size, self._deps.max_depends_on
        )
        # The jobs this one waits for as a whole; N_TO_N and SEQUENTIAL bind its children at their spawn.
        depends_on = [d["jobId"] for d in dependencies if "type" not in d]

        queue = self._queues.resolve(caller, params["jobQueue"])
        if queue.get("state") != "ENABLED":
            raise ClientException(
                f"JobQueue {queue['jobQueueName']} is DISABLED and does not accept new jobs."
            )
        definition = self._definitions.resolve_active(caller, params["jobDefinition"])
        share, priority = _fair_share(queue, definition, params)
        parameters = effective_parameters(definition.get("parameters") or {}, params.get("parameters") or {})
        container = job_container(definition, overrides, parameters)
        with self._store.transaction():
            named = [d["jobId"] for d in dependencies if "jobId" in d]
            missing = set(named) - self._store.existing_job_ids(caller.account, named)
            if missing:
                raise ClientException(f"Dependent job {sorted(missing)[0]} does not exist.")
            self._check_n_to_n(caller, dependencies, array_size)
            self._check_queued_quota(caller, 1 + (array_size or 0))
            # The definition's consumable resources, with the override's quantity for each it names.
            inherited = list(needs_of(definition))
            self._consumables.recheck(caller, inherited, "The job definition's consumableResourceProperties")
            member = "consumableResourcePropertiesOverride"
            override = self._consumables.checked_needs(caller, params.get(member), member)
            needs = merged(inherited, override)
            job_id = new_id()
            doc: dict[str, Any] = {
                "jobArn": caller.scope.job_arn(job_id),
                "jobName": name,
                "jobId": job_id,
                "jobQueue": queue["jobQueueArn"],
                "status": JobStatus.SUBMITTED.value,
                "attempts": [],
                "createdAt": now_ms(),
                "dependsOn": dependencies,
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
            if share is not None:
                doc["shareIdentifier"] = share
                doc["schedulingPriority"] = priority
            if array_size is not None:
                doc["arrayProperties"] = {"size": array_size}
            if needs:
                doc["consumableResourceProperties"] = as_properties(needs)
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
                    share_identifier=share,
                    scheduling_priority=priority,
                )
            )
        self._deps.notify()
        return {"jobArn": doc["jobArn"], "jobName": name, "jobId": job_id}

    def _check_queued_quota(self, caller: Caller, jobs: int) -> None:
        """`jobs` is what this submit adds: one, or an array's parent and its children."""
        limit = self._deps.tenancy.quota(caller.account).queued_jobs
        if limit is not None and self._store.count_queued(caller.account, limit) + jobs > limit:
            raise ClientException(
                f"Account {caller.account} may have at most {limit} queued jobs (SUBMITTED, PENDING or "
                f"RUNNABLE, an array's children included), the limit the operator set, and this job would "
                f"make more: submit again once some have started."
            )

    def _check_n_to_n(self, caller: Caller, dependencies: list[dict[str, Any]], size: int | None) -> None:
        """An N_TO_N dependency names an array parent of the same size: child i waits for its child i."""
        named = [d["jobId"] for d in dependencies if d.get("type") == "N_TO_N"]
        found = self._store.get_jobs(caller.account, named)
        for job_id in named:
            other = found.get(job_id)
            other_size = None if other is None else other.array_size
            if other_size is None:
                raise ClientException(
                    f"N_TO_N dependency {job_id} is not an array job: it must name an array parent."
                )
            if other_size != size:
                raise ClientException(
                    f"N_TO_N dependency {job_id} is an array of {other_size} jobs and this one has {size}: "
                    "both arrays must have the same size."
                )

    def describe_jobs(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        ids: list[str] = params["jobs"]
        check_list_size(ids, "jobs")
        for job_id in ids:
            if not JOB_ID.fullmatch(job_id):
                check_job_id(job_id, "job id")
        found = self._store.get_jobs(caller.account, ids)
        # A parent shows its children's counts from its summary row: its children are not read.
        summaries = self._store.array_summaries([j.job_id for j in found.values() if j.array_size])
        return {
            "jobs": [
                self._store.with_array_properties(found[i].doc, summaries.get(i))
                for i in dict.fromkeys(ids)
                if i in found
            ]
        }

    def list_jobs(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("multiNodeJobId"):
            raise ClientException("multiNodeJobId is not supported: batchd runs no multi-node jobs.")
        array_job_id = params.get("arrayJobId")
        if array_job_id:
            check_job_id(array_job_id, "arrayJobId")
            parent = self._store.get_job(array_job_id, caller.account)
            if parent is None or parent.array_size is None:
                raise ClientException(f"arrayJobId {array_job_id} names no array job of this account.")
            scope = ["array", array_job_id]
            queue_arn = None
        elif params.get("jobQueue"):
            queue_arn = self._queues.resolve(caller, params["jobQueue"])["jobQueueArn"]
            scope = [queue_arn]
        else:
            raise ClientException("ListJobs needs a jobQueue or an arrayJobId.")
        limit = page_size(params)
        query = _list_query(caller, params)
        paginator = self._deps.paginator
        filters = [*scope, sorted(query.items(), key=lambda kv: kv[0])]
        key = paginator.resume("ListJobs", caller.account, filters, params.get("nextToken"))
        after = None if key is None else (int(key[0]), str(key[1]))
        rows = self._store.list_jobs(
            caller.account,
            queue_arn,
            array_parent=array_job_id or None,
            after=after,
            limit=limit + 1,
            **query,
        )
        page = rows[:limit]
        summaries = self._store.array_summaries([r.job_id for r in page if r.array_size])
        out: dict[str, Any] = {
            "jobSummaryList": [
                _summary(self._store.with_array_properties(r.doc, summaries.get(r.job_id))) for r in page
            ]
        }
        if len(rows) > limit:
            last = rows[limit - 1]
            position = last.array_index if array_job_id else last.created_at
            out["nextToken"] = paginator.issue("ListJobs", caller.account, filters, [position, last.job_id])
        return out

    def cancel_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._end(caller, params, terminate=False)

    def terminate_job(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._end(caller, params, terminate=True)

    def _end(self, caller: Caller, params: dict[str, Any], *, terminate: bool) -> dict[str, Any]:
        job, reason = self._target(caller, params)
        endings = Endings()
        with self._store.transaction():
            end_job(self._store, job, reason, terminate=terminate, endings=endings)
        if endings.ended or endings.stop:
            self._deps.notify(ended=endings.ended, stop=endings.stop)
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


def _fair_share(
    queue: dict[str, Any], definition: dict[str, Any], params: dict[str, Any]
) -> tuple[str | None, int]:
    """The job's shareIdentifier and effective schedulingPriority (the override, else the definition's,
    else 0). A fair-share queue needs a shareIdentifier; a FIFO queue takes neither it nor an override."""
    given, override = params.get("shareIdentifier"), params.get("schedulingPriorityOverride")
    name = queue["jobQueueName"]
    if not queue.get("schedulingPolicyArn"):
        if given is not None or override is not None:
            member = "shareIdentifier" if given is not None else "schedulingPriorityOverride"
            raise ClientException(
                f"JobQueue {name} is a FIFO queue (it has no scheduling policy): {member} can only be given "
                "for a job queue with a fair-share scheduling policy. Submit without it."
            )
        return None, 0
    if given is None:
        raise ClientException(
            f"JobQueue {name} has a fair-share scheduling policy: a job submitted to it needs a "
            "shareIdentifier."
        )
    share = check_job_share_identifier(given)
    if override is not None:
        return share, check_scheduling_priority(override, "schedulingPriorityOverride")
    return share, int(definition.get("schedulingPriority") or 0)


def _list_query(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = dict(
        status=None, name=None, name_prefix=None, jd_arn=None, jd_arn_prefix=None,
        created_before=None, created_after=None, share=None, share_prefix=None,
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
        elif name == "SHARE_IDENTIFIER":
            if value.endswith("*"):
                query["share_prefix"] = value[:-1]
            else:
                query["share"] = value
        elif name == "JOB_DEFINITION":
            if value.endswith("*"):
                # A prefix over names (case-sensitive, as AWS documents), any revision; never an ARN.
                if value.startswith("arn:"):
                    raise ClientException(
                        "ListJobs filter JOB_DEFINITION takes a trailing '*' after a name only, not after "
                        f"an ARN: got '{value[:300]}'."
                    )
                query["jd_arn_prefix"] = caller.scope.job_definition_arn(value[:-1], 0)[: -len(":0")]
                continue
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


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        k: doc[k]
        for k in ("jobArn", "jobId", "jobName", "createdAt", "status", "statusReason", "startedAt",
                  "stoppedAt", "jobDefinition", "isCancelled", "isTerminated", "arrayProperties")
        if k in doc
    }  # fmt: skip
    container = doc.get("container") or {}
    brief = {k: container[k] for k in ("exitCode", "reason") if k in container}
    if brief:
        summary["container"] = brief
    return summary

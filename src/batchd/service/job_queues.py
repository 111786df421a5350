"""Create/Describe/Update/DeleteJobQueue (docs/api.md, Job queues)."""

from __future__ import annotations

from typing import Any

from batchd.clock import now_ms
from batchd.domain.compute_environments import CE, JQ
from batchd.domain.jobs import ACTIVE, QUEUED, REASON_QUEUE_DELETED, JobStatus
from batchd.domain.names import check_resource_name
from batchd.domain.queue_snapshot import FRONT_OF_QUEUE_SIZE, QueueSnapshot
from batchd.domain.tags import check_tags
from batchd.domain.waiting import check_time_limit_actions
from batchd.errors import ClientException
from batchd.service.common import (
    Caller,
    ServiceDeps,
    check_list_size,
    echo_members,
)
from batchd.service.pagination import page_size
from batchd.service.scheduling_policies import SchedulingPolicies
from batchd.store.lifecycle import Endings, end_job
from batchd.store.records import JobRecord

HEALTHY = "JobQueue Healthy"
MAX_ENVIRONMENTS = 3


class JobQueues:
    def __init__(self, deps: ServiceDeps, policies: SchedulingPolicies) -> None:
        self._deps = deps
        self._store = deps.store
        self._policies = policies

    def resolve(self, caller: Caller, reference: str) -> dict[str, Any]:
        name = caller.scope.name_from(reference, JQ)
        found = None if name is None else self._store.get_resource(JQ, caller.account, name)
        if found is None:
            raise ClientException(f"JobQueue {reference} does not exist.")
        return found

    def _environment_order(self, caller: Caller, order: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """Checks a computeEnvironmentOrder and returns it with every environment as an ARN."""
        if not order:
            raise ClientException("computeEnvironmentOrder must name at least one compute environment.")
        if len(order) > MAX_ENVIRONMENTS:
            raise ClientException(
                f"computeEnvironmentOrder may name at most {MAX_ENVIRONMENTS} compute environments, "
                f"got {len(order)}."
            )
        result, seen_orders, seen_arns = [], set(), set()
        for entry in order:
            position, reference = entry["order"], entry["computeEnvironment"]
            if position < 0:
                raise ClientException(f"computeEnvironmentOrder order must not be negative, got {position}.")
            name = caller.scope.name_from(reference, CE)
            env = None if name is None else self._store.get_resource(CE, caller.account, name)
            if env is None:
                raise ClientException(f"ComputeEnvironment {reference} does not exist.")
            if env.get("status") != "VALID":
                raise ClientException(
                    f"ComputeEnvironment {env['computeEnvironmentName']} is {env.get('status')}, not VALID: "
                    f"{env.get('statusReason', '')}"
                )
            arn = env["computeEnvironmentArn"]
            if position in seen_orders:
                raise ClientException(f"computeEnvironmentOrder uses order {position} more than once.")
            if arn in seen_arns:
                raise ClientException(f"computeEnvironmentOrder names {env['computeEnvironmentName']} twice.")
            seen_orders.add(position)
            seen_arns.add(arn)
            result.append({"order": position, "computeEnvironment": arn})
        return sorted(result, key=lambda e: e["order"])

    def create_job_queue(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["jobQueueName"]
        check_resource_name(name, "jobQueueName")
        priority = params["priority"]
        if priority < 0:
            raise ClientException(f"priority must not be negative, got {priority}.")
        check_tags(params.get("tags"))
        actions = check_time_limit_actions(
            params.get("jobStateTimeLimitActions"), self._deps.min_timeout_seconds
        )
        with self._store.transaction():
            if self._store.get_resource(JQ, caller.account, name) is not None:
                raise ClientException(f"Object already exists: job queue {name} already exists.")
            order = self._environment_order(caller, params.get("computeEnvironmentOrder"))
            arn = caller.scope.job_queue_arn(name)
            detail = echo_members(params, "JobQueueDetail", skip=("schedulingPolicyArn",))
            if params.get("schedulingPolicyArn") is not None:
                policy = self._policies.resolve_arn(
                    caller, params["schedulingPolicyArn"], "schedulingPolicyArn"
                )
                detail["schedulingPolicyArn"] = policy["arn"]
            detail.update(
                jobQueueName=name,
                jobQueueArn=arn,
                state=params.get("state") or "ENABLED",
                status="VALID",
                statusReason=HEALTHY,
                priority=priority,
                computeEnvironmentOrder=order,
                tags=params.get("tags") or {},
                createdAt=now_ms(),
            )
            if actions:
                detail["jobStateTimeLimitActions"] = actions
            else:
                detail.pop("jobStateTimeLimitActions", None)
            self._store.put_resource(JQ, caller.account, name, detail)
        self._deps.notify()
        return {"jobQueueName": name, "jobQueueArn": arn}

    def describe_job_queues(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("jobQueues")
        check_list_size(wanted, "jobQueues")
        limit = page_size(params)
        if wanted:
            found = []
            for ref in wanted:
                name = caller.scope.name_from(ref, JQ)
                detail = None if name is None else self._store.get_resource(JQ, caller.account, name)
                if detail is not None:
                    found.append(_public(detail))
            return {"jobQueues": found}
        paginator = self._deps.paginator
        after = paginator.resume("DescribeJobQueues", caller.account, None, params.get("nextToken"))
        page = self._store.list_resources(JQ, caller.account, after, limit + 1)
        out: dict[str, Any] = {"jobQueues": [_public(d) for d in page[:limit]]}
        if len(page) > limit:
            out["nextToken"] = paginator.issue(
                "DescribeJobQueues", caller.account, None, page[limit - 1]["jobQueueName"]
            )
        return out

    def update_job_queue(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        actions = params.get("jobStateTimeLimitActions")
        if actions is not None:
            actions = check_time_limit_actions(actions, self._deps.min_timeout_seconds)
        with self._store.transaction():
            detail = self.resolve(caller, params["jobQueue"])
            if actions is not None:
                detail["jobStateTimeLimitActions"] = actions
            if params.get("priority") is not None:
                if params["priority"] < 0:
                    raise ClientException(f"priority must not be negative, got {params['priority']}.")
                detail["priority"] = params["priority"]
            if params.get("computeEnvironmentOrder") is not None:
                detail["computeEnvironmentOrder"] = self._environment_order(
                    caller, params["computeEnvironmentOrder"]
                )
            if params.get("schedulingPolicyArn") is not None:
                detail["schedulingPolicyArn"] = self._scheduling_policy(caller, detail, params)
            for member in (
                "state",
                "serviceEnvironmentOrder",
            ):
                if params.get(member) is not None:
                    detail[member] = params[member]
            detail["status"], detail["statusReason"] = "VALID", HEALTHY
            self._store.put_resource(JQ, caller.account, detail["jobQueueName"], detail)
        self._deps.notify()
        return {"jobQueueName": detail["jobQueueName"], "jobQueueArn": detail["jobQueueArn"]}

    def _scheduling_policy(self, caller: Caller, detail: dict[str, Any], params: dict[str, Any]) -> str:
        """The policy UpdateJobQueue gives a queue: a fair-share queue may move to another policy, but a
        FIFO queue never gets one and a fair-share queue never loses its own, as AWS documents."""
        wanted: str = params["schedulingPolicyArn"]
        current = detail.get("schedulingPolicyArn")
        if current is None:
            raise ClientException(
                f"JobQueue {detail['jobQueueName']} is a FIFO queue (created without a schedulingPolicyArn) "
                "and cannot be given a scheduling policy: create a new queue with a schedulingPolicyArn."
            )
        if wanted == "":
            raise ClientException(
                f"JobQueue {detail['jobQueueName']} is a fair-share queue: its scheduling policy can be "
                "replaced by another (schedulingPolicyArn) but not removed."
            )
        return str(self._policies.resolve_arn(caller, wanted, "schedulingPolicyArn")["arn"])

    def delete_job_queue(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        with self._store.transaction():
            detail = self.resolve(caller, params["jobQueue"])
            name, arn = detail["jobQueueName"], detail["jobQueueArn"]
            if detail.get("state") != "DISABLED":
                raise ClientException(
                    f"Cannot delete JobQueue {name} while it is ENABLED: disable it first "
                    "with UpdateJobQueue state=DISABLED."
                )
            endings = Endings()
            for job in self._store.jobs_in_queue(caller.account, arn, QUEUED | ACTIVE):
                end_job(self._store, job, REASON_QUEUE_DELETED, terminate=True, endings=endings)
            self._store.delete_resource(JQ, caller.account, name)
        self._deps.notify(ended=endings.ended, stop=endings.stop)
        return {}

    def get_job_queue_snapshot(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        """The queue's first RUNNABLE jobs in the order the scheduler will try them, and the vCPUs its
        STARTING/RUNNING jobs use (docs/api.md, Job queue snapshots)."""
        detail = self.resolve(caller, params["jobQueue"])
        source = self._deps.queue_snapshot
        policy_arn = detail.get("schedulingPolicyArn") or None
        snapshot = (
            QueueSnapshot(fair_share=policy_arn is not None)
            if source is None
            else source(detail["jobQueueArn"], policy_arn, FRONT_OF_QUEUE_SIZE)
        )
        records = self._store.get_jobs(caller.account, list(snapshot.front))
        jobs = []
        for job_id in snapshot.front:
            job = records.get(job_id)
            # A job the API ended since the scheduler's last pass is still in its backlog: left out.
            if job is not None and job.status == JobStatus.RUNNABLE:
                jobs.append({"jobArn": job.doc["jobArn"], "earliestTimeAtPosition": _runnable_since(job)})
        now = now_ms()
        utilization: dict[str, Any] = {
            "totalCapacityUsage": [{"capacityUnit": "VCPU", "quantity": snapshot.total_vcpus}],
            "lastUpdatedAt": now,
        }
        if snapshot.fair_share:
            utilization["fairshareUtilization"] = {
                "activeShareCount": snapshot.active_share_count,
                "topCapacityUtilization": [
                    {"shareIdentifier": share, "capacityUsage": [{"capacityUnit": "VCPU", "quantity": vcpus}]}
                    for share, vcpus in snapshot.top_shares()
                ],
            }
        return {"frontOfQueue": {"jobs": jobs, "lastUpdatedAt": now}, "queueUtilization": utilization}


def _runnable_since(job: JobRecord) -> int:
    """When the job took its place: the end of its last attempt when a retry put it back (it is RUNNABLE
    again from then), else its createdAt. The moment a first attempt's job became RUNNABLE (after its
    dependencies) is not stored."""
    attempts = job.doc.get("attempts") or []
    stopped = attempts[-1].get("stoppedAt") if attempts else None
    return int(stopped if stopped is not None else job.doc.get("createdAt", job.created_at))


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k != "createdAt"}

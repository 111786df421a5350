"""Create/Describe/Update/DeleteComputeEnvironment (docs/api.md, Compute environments)."""

from __future__ import annotations

from typing import Any

from batchd.clock import now_ms
from batchd.domain.compute_environments import CE, EXECUTOR_TAG, JQ, executor_of
from batchd.domain.compute_resources import check_compute_resources, check_instance_role
from batchd.domain.jobs import ACTIVE, REASON_CE_DELETED
from batchd.domain.names import check_resource_name
from batchd.domain.tags import check_tags
from batchd.errors import ClientException
from batchd.service.common import (
    Caller,
    ServiceDeps,
    check_list_size,
    echo_members,
    new_id,
)
from batchd.service.confinement import check_executor_choice
from batchd.service.pagination import page_size
from batchd.store.lifecycle import request_stop

EXECUTORS = ("local", "docker")
HEALTHY = "ComputeEnvironment Healthy"


class ComputeEnvironments:
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._store = deps.store

    def resolve(self, caller: Caller, reference: str) -> dict[str, Any]:
        name = caller.scope.name_from(reference, CE)
        found = None if name is None else self._store.get_resource(CE, caller.account, name)
        if found is None:
            raise ClientException(f"ComputeEnvironment {reference} does not exist.")
        return found

    def create_compute_environment(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["computeEnvironmentName"]
        check_resource_name(name, "computeEnvironmentName")
        kind = params["type"]
        resources = params.get("computeResources")
        if kind == "MANAGED":
            if not resources:
                raise ClientException("computeResources must be provided for a MANAGED compute environment.")
            check_compute_resources(resources)
            check_instance_role(resources)
        if params.get("unmanagedvCpus") is not None and params["unmanagedvCpus"] < 0:
            raise ClientException("unmanagedvCpus must not be negative.")
        tags = params.get("tags")
        check_tags(tags)
        check_executor_choice(caller, tags, self._deps.default_executor)
        executor = (tags or {}).get(EXECUTOR_TAG, self._deps.default_executor)
        if executor not in EXECUTORS:
            raise ClientException(
                f"Tag {EXECUTOR_TAG} must be one of {', '.join(EXECUTORS)}, got '{executor}'."
            )
        with self._store.transaction():
            if self._store.get_resource(CE, caller.account, name) is not None:
                raise ClientException(f"Object already exists: compute environment {name} already exists.")
            arn = caller.scope.compute_environment_arn(name)
            detail = echo_members(params, "ComputeEnvironmentDetail")
            if resources is not None and kind == "MANAGED":
                detail["computeResources"] = {"minvCpus": 0, **resources}
            problem = self._deps.executor_problem(executor)
            detail.update(
                computeEnvironmentName=name,
                computeEnvironmentArn=arn,
                ecsClusterArn=caller.scope.arn("cluster", f"{name}_Batch_{new_id()}", service="ecs"),
                state=params.get("state") or "ENABLED",
                status="INVALID" if problem else "VALID",
                statusReason=problem or HEALTHY,
                uuid=new_id(),
                containerOrchestrationType="ECS",
                tags=tags or {},
                createdAt=now_ms(),
            )
            if not params.get("serviceRole"):
                # AWS Batch acts through its service-linked role when no role is given, and shows it.
                detail["serviceRole"] = (
                    f"arn:{caller.scope.partition}:iam::{caller.account}:role/aws-service-role/"
                    "batch.amazonaws.com/AWSServiceRoleForBatch"
                )
            self._store.put_resource(CE, caller.account, name, detail)
        self._deps.notify()
        return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}

    def describe_compute_environments(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("computeEnvironments")
        check_list_size(wanted, "computeEnvironments")
        limit = page_size(params)
        if wanted:
            found = []
            for ref in wanted:
                name = caller.scope.name_from(ref, CE)
                detail = None if name is None else self._store.get_resource(CE, caller.account, name)
                if detail is not None:
                    found.append(_public(detail))
            return {"computeEnvironments": found}
        paginator = self._deps.paginator
        after = paginator.resume("DescribeComputeEnvironments", caller.account, None, params.get("nextToken"))
        page = self._store.list_resources(CE, caller.account, after, limit + 1)
        out: dict[str, Any] = {"computeEnvironments": [_public(d) for d in page[:limit]]}
        if len(page) > limit:
            last = page[limit - 1]["computeEnvironmentName"]
            out["nextToken"] = paginator.issue("DescribeComputeEnvironments", caller.account, None, last)
        return out

    def update_compute_environment(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        with self._store.transaction():
            detail = self.resolve(caller, params["computeEnvironment"])
            if detail.get("status") == "DELETING":
                raise ClientException(
                    f"ComputeEnvironment {detail['computeEnvironmentName']} is being deleted."
                )
            changes = params.get("computeResources")
            if changes:
                if detail.get("type") == "UNMANAGED":
                    raise ClientException(
                        "computeResources cannot be updated on an UNMANAGED compute environment."
                    )
                merged = {**(detail.get("computeResources") or {}), **changes}
                check_compute_resources(merged)
                detail["computeResources"] = merged
            if params.get("unmanagedvCpus") is not None:
                if params["unmanagedvCpus"] < 0:
                    raise ClientException("unmanagedvCpus must not be negative.")
                detail["unmanagedvCpus"] = params["unmanagedvCpus"]
            for member in (
                "state",
                "serviceRole",
                "updatePolicy",
                "context",
                "ecsSettings",
                "eksConfiguration",
            ):
                if params.get(member) is not None:
                    detail[member] = params[member]
            problem = self._deps.executor_problem(executor_of(detail, self._deps.default_executor))
            detail["status"] = "INVALID" if problem else "VALID"
            detail["statusReason"] = problem or HEALTHY
            name = detail["computeEnvironmentName"]
            self._store.put_resource(CE, caller.account, name, detail)
        self._deps.notify()
        return {"computeEnvironmentName": name, "computeEnvironmentArn": detail["computeEnvironmentArn"]}

    def delete_compute_environment(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        with self._store.transaction():
            detail = self.resolve(caller, params["computeEnvironment"])
            name, arn = detail["computeEnvironmentName"], detail["computeEnvironmentArn"]
            if detail.get("state") != "DISABLED":
                raise ClientException(
                    f"Cannot delete ComputeEnvironment {name} while it is ENABLED: disable it first "
                    "with UpdateComputeEnvironment state=DISABLED."
                )
            for queue in self._store.list_resources(JQ, caller.account):
                if any(e["computeEnvironment"] == arn for e in queue.get("computeEnvironmentOrder", [])):
                    raise ClientException(
                        f"Cannot delete, found existing JobQueue relationship: {queue['jobQueueName']}"
                    )
            # Jobs still running here are stopped by the scheduler; the environment goes at once.
            stopped = []
            for job in self._store.jobs_in_status(ACTIVE):
                if job.account == caller.account and job.ce_arn == arn:
                    request_stop(self._store, job, REASON_CE_DELETED, isTerminated=True)
                    stopped.append(job.job_id)
            self._store.delete_resource(CE, caller.account, name)
        self._deps.notify(stop=stopped)
        return {}


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k != "createdAt"}

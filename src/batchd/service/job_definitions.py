"""Register/Describe/DeregisterJobDefinition (docs/api.md, Job definitions)."""

from __future__ import annotations

import json
from typing import Any

from batchd.domain.consumable_resources import as_properties
from batchd.domain.containers import check_container_properties, registered_container
from batchd.domain.job_definitions import parse_reference
from batchd.domain.names import check_resource_name
from batchd.domain.retries import check_retry_strategy, registered_retry_strategy
from batchd.domain.scheduling_policies import check_scheduling_priority
from batchd.domain.tags import check_tags
from batchd.domain.timeouts import check_timeout
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps, check_list_size, echo_members
from batchd.service.confinement import check_container_allowed
from batchd.service.consumable_resources import ConsumableResources
from batchd.service.pagination import page_size

MAX_DEFINITION_BYTES = 24 * 1024
UNSUPPORTED = ("nodeProperties", "eksProperties", "ecsProperties")


class JobDefinitions:
    def __init__(self, deps: ServiceDeps, consumables: ConsumableResources | None = None) -> None:
        self._deps = deps
        self._store = deps.store
        self._consumables = consumables or ConsumableResources(deps)

    def resolve_active(self, caller: Caller, reference: str) -> dict[str, Any]:
        """The definition SubmitJob runs: a named revision if ACTIVE, else the latest ACTIVE revision."""
        parsed = parse_reference(caller.scope, reference)
        found = None
        if parsed is not None:
            found = self._store.get_job_definition(caller.account, parsed[0], parsed[1])
        if found is None or found.get("status") != "ACTIVE":
            raise ClientException(f"JobDefinition name {reference} does not exist or is not in ACTIVE status")
        return found

    def register_job_definition(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["jobDefinitionName"]
        check_resource_name(name, "jobDefinitionName")
        if params["type"] != "container":
            raise ClientException(
                f"Job definition type '{params['type']}' is not supported; use 'container'."
            )
        for member in UNSUPPORTED:
            if params.get(member):
                raise ClientException(f"{member} is not supported by batchd; use containerProperties.")
        container = params.get("containerProperties")
        if not container:
            raise ClientException("containerProperties is required for a job definition of type container.")
        check_container_properties(container)
        check_container_allowed(caller, container, self._deps.tenancy)
        check_retry_strategy(params.get("retryStrategy"))
        check_timeout(params.get("timeout"), self._deps.min_timeout_seconds)
        check_tags(params.get("tags"))
        if params.get("schedulingPriority") is not None:
            check_scheduling_priority(params["schedulingPriority"], "schedulingPriority")
        if len(json.dumps(params)) > MAX_DEFINITION_BYTES:
            raise ClientException(f"The job definition is larger than {MAX_DEFINITION_BYTES // 1024} KiB.")
        with self._store.transaction():
            needs = self._consumables.checked_needs(
                caller, params.get("consumableResourceProperties"), "consumableResourceProperties"
            )
            revision = self._store.last_revision(caller.account, name) + 1
            arn = caller.scope.job_definition_arn(name, revision)
            doc = echo_members(params, "JobDefinition")
            doc["containerProperties"] = registered_container(
                container, params.get("platformCapabilities") or []
            )
            if params.get("retryStrategy"):
                doc["retryStrategy"] = registered_retry_strategy(params["retryStrategy"])
            doc.pop("consumableResourceProperties", None)
            if needs:
                doc["consumableResourceProperties"] = as_properties(needs)
            doc.update(
                jobDefinitionName=name,
                jobDefinitionArn=arn,
                revision=revision,
                status="ACTIVE",
                type="container",
                parameters=params.get("parameters") or {},
                containerOrchestrationType="ECS",
                tags=params.get("tags") or {},
            )
            self._store.put_job_definition(caller.account, doc)
        return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision}

    def describe_job_definitions(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("jobDefinitions")
        check_list_size(wanted, "jobDefinitions")
        name, status = params.get("jobDefinitionName"), params.get("status")
        limit = page_size(params)
        if status is not None and status not in ("ACTIVE", "INACTIVE"):
            raise ClientException(f"status must be ACTIVE or INACTIVE, got '{status}'.")
        if wanted:
            if name is not None or status is not None:
                raise ClientException("jobDefinitions cannot be combined with jobDefinitionName or status.")
            return self._describe_named(caller, wanted, params.get("nextToken"), limit)
        paginator = self._deps.paginator
        filters = [name, status]
        key = paginator.resume("DescribeJobDefinitions", caller.account, filters, params.get("nextToken"))
        after = None if key is None else (str(key[0]), int(key[1]))
        page = self._store.list_job_definitions(
            caller.account, name=name, status=status, after=after, limit=limit + 1
        )
        out: dict[str, Any] = {"jobDefinitions": page[:limit]}
        if len(page) > limit:
            last = page[limit - 1]
            out["nextToken"] = paginator.issue(
                "DescribeJobDefinitions",
                caller.account,
                filters,
                [last["jobDefinitionName"], last["revision"]],
            )
        return out

    def _describe_named(
        self, caller: Caller, wanted: list[str], token: str | None, limit: int
    ) -> dict[str, Any]:
        """The revisions the references name, in the order of the references, each revision once.

        A bare name gives all its revisions, lowest first; a revision an earlier reference already
        gave is not given again. A reference that names nothing (an unknown name, another account's
        ARN, a revision that is not a number or that no definition could have) adds nothing. Pages of
        `limit`, resumed after (index of the reference, revision).
        """
        paginator = self._deps.paginator
        filters = ["jobDefinitions", list(wanted)]
        key = paginator.resume("DescribeJobDefinitions", caller.account, filters, token)
        start, after = (0, 0) if key is None else (int(key[0]), int(key[1]))
        references: list[tuple[str, int | None]] = []
        for ref in wanted:
            try:
                parsed = parse_reference(caller.scope, ref, "jobDefinitions")
            except ClientException:
                parsed = None
            if parsed is not None and parsed not in references:
                references.append(parsed)
        found: list[tuple[int, dict[str, Any]]] = []
        bare: set[str] = set()
        exact: set[tuple[str, int]] = set()
        for index, (ref_name, revision) in enumerate(references):
            if len(found) > limit:
                break
            if index >= start and ref_name not in bare:
                if revision is None:
                    docs = self._store.list_job_definitions(
                        caller.account,
                        name=ref_name,
                        status=None,
                        after=(ref_name, after) if index == start else None,
                        limit=limit + 1 + len(exact),
                    )
                elif (ref_name, revision) in exact or (index == start and revision <= after):
                    docs = []
                else:
                    one = self._store.get_job_definition(caller.account, ref_name, revision)
                    docs = [] if one is None else [one]
                found += [(index, d) for d in docs if (ref_name, int(d["revision"])) not in exact]
            if revision is None:
                bare.add(ref_name)
            else:
                exact.add((ref_name, revision))
        out: dict[str, Any] = {"jobDefinitions": [doc for _, doc in found[:limit]]}
        if len(found) > limit:
            index, last = found[limit - 1]
            out["nextToken"] = paginator.issue(
                "DescribeJobDefinitions", caller.account, filters, [index, last["revision"]]
            )
        return out

    def deregister_job_definition(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        reference = params["jobDefinition"]
        parsed = parse_reference(caller.scope, reference)
        with self._store.transaction():
            doc = None if parsed is None else self._store.get_job_definition(caller.account, *parsed)
            if doc is None:
                raise ClientException(f"JobDefinition {reference} does not exist.")
            if doc["status"] != "INACTIVE":
                doc["status"] = "INACTIVE"
                self._store.put_job_definition(caller.account, doc)
        return {}

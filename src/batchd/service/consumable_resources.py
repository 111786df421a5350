"""Create/Describe/List/Update/DeleteConsumableResource and ListJobsByConsumableResource (docs/api.md,
Consumable resources), and the checks of the consumableResourceProperties that job definitions and jobs
name."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from batchd.clock import now_ms
from batchd.domain.consumable_resources import (
    CR,
    NON_REPLENISHABLE,
    as_properties,
    check_quantity,
    check_resource_type,
    in_use,
    needs_of,
    new_total,
    requirement_list,
)
from batchd.domain.jobs import ACTIVE, JobStatus
from batchd.domain.names import check_resource_name
from batchd.domain.tags import check_tags
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps
from batchd.service.pagination import page_size

JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
# UpdateConsumableResource's clientToken is honoured for 8 hours, as on AWS.
CLIENT_TOKEN_MS = 8 * 3600 * 1000
MAX_CLIENT_TOKENS = 100
MAX_PER_ACCOUNT = 50_000  # AWS's documented quota


class ConsumableResources:
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._store = deps.store

    # --- lookups used by job definitions and jobs ---------------------------------------------------------

    def resolve(self, caller: Caller, reference: str, member: str = "consumableResource") -> dict[str, Any]:
        """The caller's resource a name or ARN names."""
        name = caller.scope.name_from(reference, CR)
        found = None if name is None else self._store.get_resource(CR, caller.account, name)
        if found is None:
            raise ClientException(
                f"{member} {reference[:300]} names no consumable resource of this account: "
                "ConsumableResource does not exist."
            )
        return found

    def checked_needs(self, caller: Caller, properties: Any, member: str) -> list[tuple[str, int]]:
        """A consumableResourceProperties resolved to ARNs: each resource exists, is named once, and the
        quantity is at most its total."""
        needs: dict[str, int] = {}
        for reference, quantity in requirement_list(properties, member):
            doc = self.resolve(caller, reference, f"{member} consumableResource")
            arn = doc["consumableResourceArn"]
            if arn in needs:
                raise ClientException(
                    f"{member} names consumable resource {doc['consumableResourceName']} twice."
                )
            if quantity > int(doc["totalQuantity"]):
                raise ClientException(
                    f"{member} asks for {quantity} of consumable resource {doc['consumableResourceName']}, "
                    f"more than its totalQuantity of {doc['totalQuantity']}."
                )
            needs[arn] = quantity
        return list(needs.items())

    def recheck(self, caller: Caller, needs: list[tuple[str, int]], member: str) -> None:
        """Resolved needs checked again (a definition's at submit: its resources may be gone since)."""
        self.checked_needs(caller, as_properties(needs), member)

    # --- the operations -----------------------------------------------------------------------------------

    def create_consumable_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["consumableResourceName"]
        check_resource_name(name, "consumableResourceName")
        if params.get("totalQuantity") is None:
            raise ClientException("totalQuantity is required.")
        total = check_quantity(params["totalQuantity"], "totalQuantity", 0)
        resource_type = check_resource_type(params.get("resourceType"))
        check_tags(params.get("tags"))
        arn = caller.scope.arn(CR, name)
        with self._store.transaction():
            if self._store.get_resource(CR, caller.account, name) is not None:
                raise ClientException(f"Object already exists: consumable resource {name} already exists.")
            if self._store.count_resources(CR, caller.account) >= MAX_PER_ACCOUNT:
                raise ClientException(
                    f"An account may have at most {MAX_PER_ACCOUNT} consumable resources: delete one first."
                )
            detail = {
                "consumableResourceName": name,
                "consumableResourceArn": arn,
                "totalQuantity": total,
                "resourceType": resource_type,
                "createdAt": now_ms(),
                "tags": params.get("tags") or {},
            }
            self._store.put_resource(CR, caller.account, name, detail)
        self._deps.notify()
        return {"consumableResourceName": name, "consumableResourceArn": arn}

    def describe_consumable_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        detail = self.resolve(caller, params["consumableResource"])
        used = self._in_use(caller, [detail])[detail["consumableResourceArn"]]
        total = int(detail["totalQuantity"])
        return {
            "consumableResourceName": detail["consumableResourceName"],
            "consumableResourceArn": detail["consumableResourceArn"],
            "totalQuantity": total,
            "inUseQuantity": used,
            "availableQuantity": max(0, total - used),
            "resourceType": detail["resourceType"],
            "createdAt": detail["createdAt"],
            "tags": detail.get("tags") or {},
        }

    def list_consumable_resources(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = page_size(params)
        filters = params.get("filters") or []
        patterns: list[str] = []
        for entry in filters:
            if entry.get("name") != "CONSUMABLE_RESOURCE_NAME":
                raise ClientException(
                    f"Unknown filter name '{str(entry.get('name'))[:100]}': ListConsumableResources filters "
                    "by CONSUMABLE_RESOURCE_NAME."
                )
            patterns.extend(entry.get("values") or [])
        paginator = self._deps.paginator
        after = paginator.resume("ListConsumableResources", caller.account, filters, params.get("nextToken"))
        docs = [
            d
            for d in self._store.list_resources(CR, caller.account, after)
            if not patterns or any(_name_matches(d["consumableResourceName"], p) for p in patterns)
        ]
        page = docs[:limit]
        used = self._in_use(caller, page)
        out: dict[str, Any] = {
            "consumableResources": [
                {
                    "consumableResourceArn": d["consumableResourceArn"],
                    "consumableResourceName": d["consumableResourceName"],
                    "totalQuantity": int(d["totalQuantity"]),
                    "inUseQuantity": used[d["consumableResourceArn"]],
                    "resourceType": d["resourceType"],
                }
                for d in page
            ]
        }
        if len(docs) > limit:
            out["nextToken"] = paginator.issue(
                "ListConsumableResources", caller.account, filters, page[-1]["consumableResourceName"]
            )
        return out

    def update_consumable_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("clientToken")
        request = hashlib.sha256(
            json.dumps([params.get("operation"), params.get("quantity")]).encode()
        ).hexdigest()
        with self._store.transaction():
            detail = self.resolve(caller, params["consumableResource"])
            now = now_ms()
            tokens = {
                t: seen
                for t, seen in (detail.get("clientTokens") or {}).items()
                if now - seen["at"] < CLIENT_TOKEN_MS
            }
            repeat = tokens.get(token) if token else None
            if repeat is not None and repeat["request"] == request:
                pass  # the same request again: it changes nothing the second time
            elif repeat is not None:
                raise ClientException(
                    f"clientToken {token} was already used for a different UpdateConsumableResource request."
                )
            else:
                detail["totalQuantity"] = new_total(
                    int(detail["totalQuantity"]), params.get("operation"), params.get("quantity")
                )
                if token:
                    tokens[token] = {"at": now, "request": request}
                    tokens = dict(sorted(tokens.items(), key=lambda t: t[1]["at"])[-MAX_CLIENT_TOKENS:])
                detail["clientTokens"] = tokens
                self._store.put_resource(CR, caller.account, detail["consumableResourceName"], detail)
        self._deps.notify()
        return {
            "consumableResourceName": detail["consumableResourceName"],
            "consumableResourceArn": detail["consumableResourceArn"],
            "totalQuantity": int(detail["totalQuantity"]),
        }

    def delete_consumable_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        # As AWS documents, a resource can be deleted at any time, even while jobs that need it run: the
        # jobs still waiting for it stay RUNNABLE until a resource of that name is created again.
        with self._store.transaction():
            detail = self.resolve(caller, params["consumableResource"])
            self._store.delete_resource(CR, caller.account, detail["consumableResourceName"])
        return {}

    def list_jobs_by_consumable_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = page_size(params)
        detail = self.resolve(caller, params["consumableResource"])
        arn = detail["consumableResourceArn"]
        filters = params.get("filters") or []
        statuses: set[str] | None = None
        names: list[str] = []
        for entry in filters:
            values = entry.get("values") or []
            if entry.get("name") == "JOB_STATUS":
                bad = [v for v in values if v not in JOB_STATUSES]
                if bad:
                    raise ClientException(
                        f"JOB_STATUS value '{str(bad[0])[:50]}' is not one of {', '.join(JOB_STATUSES)}."
                    )
                statuses = set(values) if statuses is None else statuses & set(values)
            elif entry.get("name") == "JOB_NAME":
                names.extend(values)
            else:
                raise ClientException(
                    f"Unknown filter name '{str(entry.get('name'))[:100]}': ListJobsByConsumableResource "
                    "filters by JOB_STATUS and JOB_NAME."
                )
        paginator = self._deps.paginator
        key = [arn, filters]
        after = paginator.resume("ListJobsByConsumableResource", caller.account, key, params.get("nextToken"))
        jobs = [
            job
            for job in self._store.jobs_needing(
                caller.account, arn, None if statuses is None else sorted(statuses), after
            )
            if not names or any(_name_matches(job.name, p) for p in names)
        ]
        page = jobs[:limit]
        out: dict[str, Any] = {"jobs": [_job_summary(job.doc, job.queue_arn, arn) for job in page]}
        if len(jobs) > limit:
            out["nextToken"] = paginator.issue(
                "ListJobsByConsumableResource", caller.account, key, page[-1].seq
            )
        return out

    def _in_use(self, caller: Caller, docs: list[dict[str, Any]]) -> dict[str, int]:
        wanted = {d["consumableResourceArn"] for d in docs}
        holders = []
        if any(d["resourceType"] != NON_REPLENISHABLE for d in docs):
            holders = [
                needs
                for job in self._store.jobs_in_status(ACTIVE)
                if job.account == caller.account and job.array_size is None
                for needs in [needs_of(job.doc)]
                if any(arn in wanted for arn, _ in needs)
            ]
        return in_use(docs, holders)


def _name_matches(name: str, pattern: str) -> bool:
    """AWS's name filters: case-insensitive, and a trailing '*' matches any name that starts so."""
    if pattern.endswith("*"):
        return name.lower().startswith(pattern[:-1].lower())
    return name.lower() == pattern.lower()


def _job_summary(doc: dict[str, Any], queue_arn: str, arn: str) -> dict[str, Any]:
    quantity = dict(needs_of(doc)).get(arn, 0)
    summary: dict[str, Any] = {
        "jobArn": doc["jobArn"],
        "jobQueueArn": queue_arn,
        "jobName": doc["jobName"],
        "jobDefinitionArn": doc.get("jobDefinition"),
        "shareIdentifier": doc.get("shareIdentifier"),
        "jobStatus": doc.get("status", JobStatus.SUBMITTED.value),
        "quantity": quantity,
        "statusReason": doc.get("statusReason"),
        "startedAt": doc.get("startedAt"),
        "createdAt": doc["createdAt"],
        "consumableResourceProperties": doc.get("consumableResourceProperties") or {},
    }
    return {k: v for k, v in summary.items() if v is not None}

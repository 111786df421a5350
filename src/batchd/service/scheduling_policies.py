"""Create/Describe/List/Update/DeleteSchedulingPolicy (docs/api.md, Scheduling policies)."""

from __future__ import annotations

from typing import Any

from batchd.clock import now_ms
from batchd.domain.compute_environments import JQ
from batchd.domain.names import check_resource_name
from batchd.domain.scheduling_policies import SP, fairshare_policy
from batchd.domain.tags import check_tags
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps, check_list_size
from batchd.service.pagination import DEFAULT_PAGE

MAX_LIST_RESULTS = 1000


class SchedulingPolicies:
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._store = deps.store

    def resolve_arn(self, caller: Caller, arn: str, member: str = "arn") -> dict[str, Any]:
        """The caller's policy an ARN names; anything else (a name, another account's ARN) is refused."""
        name = _name_in(caller, arn)
        found = None if name is None else self._store.get_resource(SP, caller.account, name)
        if found is None:
            raise ClientException(
                f"{member} {arn[:300]} names no scheduling policy of this account: SchedulingPolicy does "
                f"not exist. Give the ARN CreateSchedulingPolicy returned ({caller.scope.arn(SP, 'NAME')})."
            )
        return found

    def create_scheduling_policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        check_resource_name(name, "name")
        _refuse_quota_share(params)
        policy = fairshare_policy(params.get("fairsharePolicy"))
        check_tags(params.get("tags"))
        arn = caller.scope.arn(SP, name)
        with self._store.transaction():
            if self._store.get_resource(SP, caller.account, name) is not None:
                raise ClientException(f"Object already exists: scheduling policy {name} already exists.")
            detail = {
                "name": name,
                "arn": arn,
                "fairsharePolicy": policy,
                "tags": params.get("tags") or {},
                "createdAt": now_ms(),
            }
            self._store.put_resource(SP, caller.account, name, detail)
        return {"name": name, "arn": arn}

    def describe_scheduling_policies(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        arns: list[str] = params["arns"]
        check_list_size(arns, "arns")
        found = []
        for arn in dict.fromkeys(arns):
            name = _name_in(caller, arn)
            detail = None if name is None else self._store.get_resource(SP, caller.account, name)
            if detail is not None:
                found.append(_public(detail))
        return {"schedulingPolicies": found}

    def list_scheduling_policies(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        limit = params.get("maxResults")
        if limit is None:
            limit = DEFAULT_PAGE
        elif not 1 <= limit <= MAX_LIST_RESULTS:
            raise ClientException(f"maxResults must be between 1 and {MAX_LIST_RESULTS}, got {limit}.")
        paginator = self._deps.paginator
        after = paginator.resume("ListSchedulingPolicies", caller.account, None, params.get("nextToken"))
        page = self._store.list_resources(SP, caller.account, after, limit + 1)
        out: dict[str, Any] = {"schedulingPolicies": [{"arn": d["arn"]} for d in page[:limit]]}
        if len(page) > limit:
            out["nextToken"] = paginator.issue(
                "ListSchedulingPolicies", caller.account, None, page[limit - 1]["name"]
            )
        return out

    def update_scheduling_policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        _refuse_quota_share(params)
        with self._store.transaction():
            detail = self.resolve_arn(caller, params["arn"])
            if params.get("fairsharePolicy") is not None:
                # The policy given replaces the stored one as a whole, as on AWS.
                detail["fairsharePolicy"] = fairshare_policy(params["fairsharePolicy"])
                self._store.put_resource(SP, caller.account, detail["name"], detail)
        self._deps.notify()
        return {}

    def delete_scheduling_policy(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        with self._store.transaction():
            detail = self.resolve_arn(caller, params["arn"])
            users = [
                q["jobQueueName"]
                for q in self._store.list_resources(JQ, caller.account)
                if q.get("schedulingPolicyArn") == detail["arn"]
            ]
            if users:
                raise ClientException(
                    f"Cannot delete scheduling policy {detail['name']}: job queue {', '.join(users[:10])} "
                    "uses it. Delete the queue, or move it to another policy with UpdateJobQueue, first."
                )
            self._store.delete_resource(SP, caller.account, detail["name"])
        return {}


def _refuse_quota_share(params: dict[str, Any]) -> None:
    if params.get("quotaSharePolicy") is not None:
        raise ClientException(
            "quotaSharePolicy is not supported by batchd: scheduling policies are fair-share policies "
            "(fairsharePolicy)."
        )


def _name_in(caller: Caller, arn: str) -> str | None:
    prefix = caller.scope.arn(SP, "")
    return arn[len(prefix) :] if arn.startswith(prefix) and len(arn) > len(prefix) else None


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k != "createdAt"}

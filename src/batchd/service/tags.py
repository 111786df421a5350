"""TagResource, UntagResource, ListTagsForResource: the tags of compute environments, job queues,
scheduling policies, consumable resources, job definitions and jobs, by ARN (docs/api.md, Tags).

A resource's tags are one set, kept in its own document: those given at create, register or submit and
those set here are the same tags, shown alike by the Describe operations and by ListTagsForResource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchd.domain.arrays import parent_of
from batchd.domain.compute_environments import CE, EXECUTOR_TAG, JQ
from batchd.domain.consumable_resources import CR
from batchd.domain.scheduling_policies import SP
from batchd.domain.tags import check_tags
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps
from batchd.store.sqlite import SqliteStore

JD = "job-definition"
JOB = "job"


@dataclass(frozen=True)
class _Tagged:
    """A resource found by its ARN: its document, and how to store its new tags (inside the caller's
    transaction)."""

    kind: str
    doc: dict[str, Any]
    store_tags: Callable[[dict[str, str]], None]

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.doc.get("tags") or {})

    def save(self, tags: dict[str, str]) -> None:
        self.store_tags(tags)


class Tags:
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._store = deps.store

    def tag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        new: dict[str, str] = params["tags"]
        if not new:
            raise ClientException("tags must hold at least one tag.")
        check_tags(new)
        with self._store.transaction():
            resource = self._find(caller, params["resourceArn"])
            if (
                resource.kind == CE
                and EXECUTOR_TAG in new
                and new[EXECUTOR_TAG] != resource.tags.get(EXECUTOR_TAG)
            ):
                raise ClientException(
                    f"The {EXECUTOR_TAG} tag chooses the executor when the compute environment is created "
                    "and cannot be changed afterwards: create a new compute environment instead."
                )
            merged = {**resource.tags, **new}
            if len(merged) > 50:
                raise ClientException(
                    f"A resource may hold at most 50 tags: it has {len(resource.tags)}, and these would make "
                    f"it {len(merged)}."
                )
            resource.save(merged)
        return {}

    def untag_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        keys: list[str] = params["tagKeys"]
        if not 1 <= len(keys) <= 50:
            raise ClientException(f"tagKeys must name 1 to 50 tag keys, got {len(keys)}.")
        for key in keys:
            if not 1 <= len(key) <= 128:
                raise ClientException(f"Tag key '{key[:140]}' in tagKeys must be 1 to 128 characters long.")
        with self._store.transaction():
            resource = self._find(caller, params["resourceArn"])
            if resource.kind == CE and EXECUTOR_TAG in keys and EXECUTOR_TAG in resource.tags:
                raise ClientException(
                    f"The {EXECUTOR_TAG} tag chooses the compute environment's executor and cannot be "
                    "removed."
                )
            # Keys the resource does not have are ignored, as AWS does.
            remaining = {k: v for k, v in resource.tags.items() if k not in keys}
            if len(remaining) != len(resource.tags):
                resource.save(remaining)
        return {}

    def list_tags_for_resource(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"tags": self._find(caller, params["resourceArn"]).tags}

    def _find(self, caller: Caller, arn: str) -> _Tagged:
        if not arn.startswith("arn:"):
            raise ClientException(f"resourceArn must be an ARN, got '{arn[:200]}'.")
        store, account = self._store, caller.account
        for kind in (CE, JQ, SP, CR):
            name = _name_in(caller, arn, kind)
            doc = None if name is None else store.get_resource(kind, account, name)
            if name is not None and doc is not None:
                return _Tagged(kind, doc, _resource_saver(store, kind, account, name, doc))
        reference = _name_in(caller, arn, JD)
        if reference is not None:
            name, _, revision = reference.partition(":")
            if not revision.isdigit():
                raise ClientException(
                    f"A job definition's ARN names its revision (job-definition/NAME:REVISION), got '{arn}'."
                )
            definition = store.get_job_definition(account, name, int(revision))
            if definition is not None:
                return _Tagged(JD, definition, _definition_saver(store, account, definition))
        job_id = _name_in(caller, arn, JOB)
        if job_id is not None:
            parent = parent_of(job_id)
            if parent is not None:
                raise ClientException(
                    f"The child jobs of an array job cannot be tagged: tag the array job "
                    f"{caller.scope.job_arn(parent)} instead."
                )
            job = store.get_job(job_id, account)
            if job is not None:
                return _Tagged(JOB, job.doc, lambda tags: store.set_job_tags(job_id, tags))
        raise ClientException(f"Resource {arn} does not exist, or is not a resource batchd can tag.")


def _resource_saver(
    store: SqliteStore, kind: str, account: str, name: str, doc: dict[str, Any]
) -> Callable[[dict[str, str]], None]:
    def save(tags: dict[str, str]) -> None:
        store.put_resource(kind, account, name, {**doc, "tags": tags})

    return save


def _definition_saver(
    store: SqliteStore, account: str, definition: dict[str, Any]
) -> Callable[[dict[str, str]], None]:
    def save(tags: dict[str, str]) -> None:
        store.put_job_definition(account, {**definition, "tags": tags})

    return save


def _name_in(caller: Caller, arn: str, kind: str) -> str | None:
    """The name an ARN gives a resource of `kind` in the caller's scope (None: another kind, or another
    account or region, which the caller cannot see)."""
    prefix = caller.scope.arn(kind, "")
    return arn[len(prefix) :] if arn.startswith(prefix) and len(arn) > len(prefix) else None

"""Register/Describe/DeregisterJobDefinition (SPEC §7)."""

from __future__ import annotations

import json
import re
from typing import Any

from batchd.domain.arns import Scope
from batchd.domain.names import check_resource_name
from batchd.domain.parameters import resource_amounts
from batchd.domain.tags import check_tags
from batchd.errors import ClientException
from batchd.service.common import Caller, ServiceDeps, check_list_size, echo_members
from batchd.service.confinement import check_container_allowed
from batchd.service.pagination import page_size

JD = "job-definition"
MAX_DEFINITION_BYTES = 24 * 1024
IMAGE = re.compile(r"[A-Za-z0-9\-_:./#@]{1,255}")
VOLUME_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
UNSUPPORTED = ("nodeProperties", "eksProperties", "ecsProperties")
DIGITS = re.compile(r"[0-9]+")
MAX_REVISION = 2**31 - 1


def parse_reference(
    scope: Scope, reference: str, member: str = "jobDefinition"
) -> tuple[str, int | None] | None:
    """(name, revision or None) from an ARN, `name:revision` or a bare name; None when it names nothing.

    A revision that is not ASCII digits names nothing; ASCII digits outside 1 to 2**31-1 are refused.
    """
    tail = scope.name_from(reference, JD)
    if tail is None:
        return None
    name, sep, revision = tail.partition(":")
    if not sep:
        return name, None
    if not DIGITS.fullmatch(revision):
        return None
    return name, check_revision(revision, member)


def check_revision(revision: str, member: str) -> int:
    """The revision that ASCII digits spell, if it is one AWS could have issued (1 to 2**31-1)."""
    digits = revision.lstrip("0")
    if not digits or len(digits) > len(str(MAX_REVISION)) or int(digits) > MAX_REVISION:
        raise ClientException(
            f"{member} revision must be a positive integer from 1 to {MAX_REVISION}, got '{revision[:40]}'."
        )
    return int(digits)


def check_command(command: list[str] | None, member: str) -> None:
    for arg in command or []:
        if "\x00" in arg:
            raise ClientException(f"{member} arguments must not contain NUL characters.")


def check_environment_names(environment: list[dict[str, str]] | None, member: str) -> None:
    for entry in environment or []:
        name = entry.get("name", "")
        value = entry.get("value", "")
        if value is None:
            raise ClientException(
                f"{member} entry '{str(name)[:256]}' has a null value: "
                "a value must be a string (or left out)."
            )
        if not name or not isinstance(name, str) or "=" in name or "\x00" in name or "\x00" in str(value):
            raise ClientException(
                f"{member} name '{name}' is invalid: names must be non-empty, without '=' or NUL characters."
            )
        if name.startswith("AWS_BATCH"):
            raise ClientException(
                f"{member} name '{name}' is reserved: names starting with AWS_BATCH are set by Batch itself."
            )


def check_retry_strategy(strategy: dict[str, Any] | None) -> None:
    if not strategy:
        return
    attempts = strategy.get("attempts")
    if attempts is not None and not 1 <= attempts <= 10:
        raise ClientException(f"retryStrategy.attempts must be between 1 and 10, got {attempts}.")
    rules = strategy.get("evaluateOnExit") or []
    if len(rules) > 5:
        raise ClientException("retryStrategy.evaluateOnExit may hold at most 5 entries.")
    for rule in rules:
        action = str(rule.get("action", ""))
        if action.upper() not in ("RETRY", "EXIT"):
            raise ClientException(
                f"retryStrategy.evaluateOnExit action must be RETRY or EXIT, got '{action}'."
            )
        for key in ("onStatusReason", "onReason", "onExitCode"):
            if len(str(rule.get(key, ""))) > 512:
                raise ClientException(f"retryStrategy.evaluateOnExit {key} must be at most 512 characters.")


def check_timeout(timeout: dict[str, Any] | None, minimum: int) -> None:
    seconds = (timeout or {}).get("attemptDurationSeconds")
    if seconds is not None and seconds < minimum:
        raise ClientException(f"timeout.attemptDurationSeconds must be at least {minimum}, got {seconds}.")


def check_amounts(vcpus: float | None, memory: int | None, where: str, required: bool) -> None:
    if vcpus is None and required:
        raise ClientException(f"{where} must give vcpus (or a VCPU resourceRequirement) of at least 1.")
    if vcpus is not None and vcpus <= 0:
        raise ClientException(f"{where} vcpus must be greater than 0, got {vcpus}.")
    if memory is None and required:
        raise ClientException(
            f"{where} must give memory (or a MEMORY resourceRequirement) of at least 4 MiB."
        )
    if memory is not None and memory < 4:
        raise ClientException(f"{where} memory must be at least 4 MiB, got {memory}.")


class JobDefinitions:
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._store = deps.store

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
        _check_container(container)
        check_container_allowed(caller, container, self._deps.tenancy)
        check_retry_strategy(params.get("retryStrategy"))
        check_timeout(params.get("timeout"), self._deps.min_timeout_seconds)
        check_tags(params.get("tags"))
        if len(json.dumps(params)) > MAX_DEFINITION_BYTES:
            raise ClientException(f"The job definition is larger than {MAX_DEFINITION_BYTES // 1024} KiB.")
        with self._store.transaction():
            revision = self._store.last_revision(caller.account, name) + 1
            arn = caller.scope.job_definition_arn(name, revision)
            doc = echo_members(params, "JobDefinition")
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


def _check_container(container: dict[str, Any]) -> None:
    image = container.get("image")
    if not image:
        raise ClientException("containerProperties.image is required.")
    if not IMAGE.fullmatch(image):
        raise ClientException(
            f"containerProperties.image '{image[:300]}' is invalid: "
            "up to 255 letters, digits and - _ : . / # @."
        )
    vcpus, memory = resource_amounts(container, strict=True)
    check_amounts(vcpus, memory, "containerProperties", required=True)
    check_environment_names(container.get("environment"), "containerProperties.environment")
    check_command(container.get("command"), "containerProperties.command")
    names = set()
    for volume in container.get("volumes") or []:
        volume_name = volume.get("name")
        if volume_name is None or not VOLUME_NAME.fullmatch(volume_name):
            raise ClientException(
                f"Volume name '{volume_name}' is invalid: 1 to 255 letters, digits, hyphens or underscores."
            )
        names.add(volume_name)
    for mount in container.get("mountPoints") or []:
        if mount.get("sourceVolume") not in names:
            raise ClientException(f"mountPoint sourceVolume '{mount.get('sourceVolume')}' names no volume.")
        if not str(mount.get("containerPath", "")).startswith("/"):
            raise ClientException("mountPoint containerPath must be an absolute path.")

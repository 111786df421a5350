"""containerProperties and containerOverrides: what a job's container is, as registered and as run."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchd.domain.amounts import check_amounts, resource_amounts
from batchd.domain.parameters import substitute
from batchd.errors import ClientException

IMAGE = re.compile(r"[A-Za-z0-9\-_:./#@]{1,255}")
VOLUME_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Names starting so are Batch's own variables (AWS_BATCH_JOB_ID, ...): a caller may not set them.
RESERVED_ENVIRONMENT_PREFIX = "AWS_BATCH"
# Lists RegisterJobDefinition gives back empty when they were not given, as AWS does.
REGISTERED_LISTS = (
    "command", "environment", "mountPoints", "resourceRequirements", "secrets", "ulimits", "volumes",
)  # fmt: skip
# The platform version AWS records for a FARGATE definition that names none.
FARGATE_PLATFORM_VERSION = "LATEST"
# Container members a job shows in DescribeJobs, taken from its definition.
CONTAINER_MEMBERS = (
    "image", "vcpus", "memory", "command", "jobRoleArn", "executionRoleArn", "volumes", "environment",
    "mountPoints", "readonlyRootFilesystem", "ulimits", "privileged", "user", "instanceType",
    "resourceRequirements", "linuxParameters", "logConfiguration", "secrets", "networkConfiguration",
    "fargatePlatformConfiguration", "ephemeralStorage", "runtimePlatform", "repositoryCredentials",
    "enableExecuteCommand",
)  # fmt: skip


def check_command(command: Sequence[str] | None, member: str) -> None:
    for arg in command or []:
        if "\x00" in arg:
            raise ClientException(f"{member} arguments must not contain NUL characters.")


def check_environment_names(environment: Sequence[Mapping[str, Any]] | None, member: str) -> None:
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
        if name.startswith(RESERVED_ENVIRONMENT_PREFIX):
            raise ClientException(
                f"{member} name '{name}' is reserved: names starting with AWS_BATCH are set by Batch itself."
            )


def check_container_properties(container: Mapping[str, Any]) -> None:
    """A definition's containerProperties AWS would register: image, amounts, variables, volumes."""
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


def registered_container(
    container: Mapping[str, Any], platform_capabilities: Sequence[str]
) -> dict[str, Any]:
    """containerProperties as RegisterJobDefinition stores them, with the defaults AWS fills in."""
    registered = copy.deepcopy(dict(container))
    for member in REGISTERED_LISTS:
        if registered.get(member) is None:
            registered[member] = []
    if "FARGATE" in platform_capabilities:
        fargate = registered.get("fargatePlatformConfiguration") or {}
        registered["fargatePlatformConfiguration"] = {"platformVersion": FARGATE_PLATFORM_VERSION, **fargate}
    return registered


def check_container_overrides(overrides: Mapping[str, Any]) -> None:
    """SubmitJob's containerOverrides on their own; the container they make is checked once merged."""
    check_environment_names(overrides.get("environment"), "containerOverrides.environment")
    check_command(overrides.get("command"), "containerOverrides.command")
    vcpus, memory = resource_amounts(overrides, strict=True)
    check_amounts(vcpus, memory, "containerOverrides", required=False)


def merge_environment(
    base: Sequence[Mapping[str, str]], overrides: Sequence[Mapping[str, str]]
) -> list[dict[str, str]]:
    """Merge by name: an override replaces the same name, new names are appended, others kept."""
    merged: dict[str, dict[str, str]] = {}
    for entry in [*base, *overrides]:
        name = entry.get("name")
        if name is None:
            continue
        merged[name] = {"name": name, "value": entry.get("value", "")}
    return list(merged.values())


def job_container(
    definition: Mapping[str, Any], overrides: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The container a job runs: `effective_container`, refused unless it knows its vCPUs and memory."""
    container = effective_container(definition, overrides, parameters)
    check_amounts(*resource_amounts(container), "The job's container", required=True)
    return container


def effective_container(
    definition: Mapping[str, Any], overrides: Mapping[str, Any], parameters: Mapping[str, str]
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

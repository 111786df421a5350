"""vCPUs and memory: what a container asks for, read from either of the ways AWS lets it say so."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batchd.errors import ClientException

DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
MIN_MEMORY_MIB = 4


def resource_amounts(container: Mapping[str, Any], strict: bool = False) -> tuple[float | None, int | None]:
    """vCPUs and MiB a container asks for: `resourceRequirements` wins over the deprecated members.

    `strict` for what a caller sends: values must then be ASCII decimals. Stored jobs and definitions
    are read as they were accepted, so that one accepted before this check still runs.
    """
    vcpus: float | None = container.get("vcpus")
    memory: int | None = container.get("memory")
    for req in container.get("resourceRequirements") or []:
        kind, value = req.get("type"), req.get("value")
        if kind == "VCPU":
            vcpus = _number(value, "VCPU", strict)
        elif kind == "MEMORY":
            memory = int(_number(value, "MEMORY", strict))
    return vcpus, memory


def check_amounts(vcpus: float | None, memory: int | None, where: str, required: bool) -> None:
    """Amounts AWS would accept; `required` when they must be known (a definition, a job to run)."""
    if vcpus is None and required:
        raise ClientException(f"{where} must give vcpus (or a VCPU resourceRequirement) of at least 1.")
    if vcpus is not None and vcpus <= 0:
        raise ClientException(f"{where} vcpus must be greater than 0, got {vcpus}.")
    if memory is None and required:
        raise ClientException(
            f"{where} must give memory (or a MEMORY resourceRequirement) of at least {MIN_MEMORY_MIB} MiB."
        )
    if memory is not None and memory < MIN_MEMORY_MIB:
        raise ClientException(f"{where} memory must be at least {MIN_MEMORY_MIB} MiB, got {memory}.")


def _number(value: Any, kind: str, strict: bool) -> float:
    # float() also reads other scripts' digits ('٣'), '1_0', ' 1 ' and 'nan': a caller may not send those.
    if strict and (not isinstance(value, str) or not DECIMAL.fullmatch(value)):
        raise ClientException(
            f"resourceRequirements value '{str(value)[:40]}' for {kind} is not a number "
            "(ASCII digits, optionally with a decimal point)."
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ClientException(f"resourceRequirements value '{value}' for {kind} is not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ClientException(
            f"resourceRequirements value '{str(value)[:40]}' for {kind} is not a finite number."
        )
    return number

"""Effective job settings: parameters, `Ref::` substitution and container overrides (SPEC §12)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchd.errors import ClientException

REF_PREFIX = "Ref::"
DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def effective_parameters(definition: Mapping[str, str], submitted: Mapping[str, str]) -> dict[str, str]:
    """Definition defaults overlaid by the submitter's values."""
    return {**definition, **submitted}


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Replaces each element exactly equal to `Ref::NAME` by NAME's value; unknown names stay as written."""
    out = []
    for arg in command:
        if arg.startswith(REF_PREFIX):
            out.append(parameters.get(arg[len(REF_PREFIX) :], arg))
        else:
            out.append(arg)
    return out


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

"""Request checks against botocore's model: JSON types, required members, enums and integer ranges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, Shape

from batchd.errors import BatchError, ClientException

# Members the 2016 model required but later models (and so newer clients) dropped. The server must accept
# requests without them whatever botocore version is installed; the service checks what it really needs.
RELAXED_REQUIRED: frozenset[tuple[str, str]] = frozenset(
    {
        ("ComputeResource", "minvCpus"),
        ("ComputeResource", "instanceTypes"),
        ("ComputeResource", "instanceRole"),
        ("ComputeResource", "subnets"),
        ("ComputeResource", "securityGroupIds"),
        ("ContainerProperties", "image"),
        ("ContainerProperties", "vcpus"),
        ("ContainerProperties", "memory"),
        ("CreateComputeEnvironmentRequest", "serviceRole"),
        ("CreateJobQueueRequest", "computeEnvironmentOrder"),
        ("ListJobsRequest", "jobQueue"),
    }
)

# Enums AWS documents as case-insensitive ("RETRY" or "retry").
CASE_INSENSITIVE_ENUMS = frozenset({"RetryAction"})

_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def validate_input(
    operation: OperationModel, params: Mapping[str, Any], error: type[BatchError] = ClientException
) -> None:
    """Checks JSON types, required members and enum values against the model.

    Members the model does not know are tolerated (newer clients may send them); a wrong type, a missing
    required member or an unknown enum value is an `error` (the protocol's client error) naming the member.
    """
    shape = operation.input_shape
    if shape is None:
        return
    try:
        _check(shape, params, "")
    except ClientException as exc:
        if error is ClientException:
            raise
        raise error(exc.message) from None


def _where(path: str) -> str:
    return path or "the request body"


def _check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ClientException(f"Invalid type for '{_where(path)}': expected a JSON object.")
        for name in shape.required_members:
            if (shape.name, name) not in RELAXED_REQUIRED and value.get(name) is None:
                raise ClientException(f"Missing required parameter '{_join(path, name)}'.")
        members = shape.members
        for name, item in value.items():
            member = members.get(name)
            if member is not None and item is not None:
                _check(member, item, _join(path, name))
    elif kind == "list":
        if not isinstance(value, list):
            raise ClientException(f"Invalid type for '{path}': expected a JSON array.")
        for index, item in enumerate(value):
            if item is None:
                raise ClientException(f"Invalid value for '{path}[{index}]': null is not allowed in a list.")
            _check(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ClientException(f"Invalid type for '{path}': expected a JSON object.")
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ClientException(f"Invalid type for '{path}': expected a string.")
        enum = shape.enum
        if shape.name in CASE_INSENSITIVE_ENUMS:
            value = value.upper()
        if enum and value not in enum:
            allowed = ", ".join(enum)
            raise ClientException(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{allowed}]"
            )
    elif kind in _INT_BOUNDS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ClientException(f"Invalid type for '{path}': expected an integer.")
        low, high = _INT_BOUNDS[kind]
        if not low <= value <= high:
            raise ClientException(f"Value {value} at '{path}' is out of range for a {kind}.")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ClientException(f"Invalid type for '{path}': expected true or false.")
    elif kind in ("double", "float") and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ClientException(f"Invalid type for '{path}': expected a number.")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name

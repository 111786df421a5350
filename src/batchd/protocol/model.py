"""Operations, routes and shapes, taken from botocore's own model of the Batch service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, Shape

from batchd.awsmodel import service_model
from batchd.errors import ClientException

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


@dataclass(frozen=True)
class Operation:
    """One operation of the service: its AWS name, its route and botocore's model of it."""

    name: str
    method: str
    path: str
    model: OperationModel


def routes(operation_names: Iterable[str]) -> dict[tuple[str, str], Operation]:
    """The (method, path) → Operation table for the operations the server implements."""
    model = service_model()
    table: dict[tuple[str, str], Operation] = {}
    for name in operation_names:
        op = model.operation_model(name)
        method, path = op.http["method"], op.http["requestUri"]
        table[(method, path)] = Operation(name, method, path, op)
    return table


def validate_input(operation: Operation, params: Mapping[str, Any]) -> None:
    """Checks JSON types, required members and enum values against the model.

    Members the model does not know are tolerated (newer clients may send them); a wrong type, a missing
    required member or an unknown enum value is a ClientException naming the member.
    """
    shape = operation.model.input_shape
    if shape is not None:
        _check(shape, params, "")


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

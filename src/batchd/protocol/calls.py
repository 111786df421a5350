"""What a wire protocol finds in a request: the operation it calls, and the interface protocols share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.model import OperationModel

from batchd.errors import BatchError
from batchd.service.api import Handler


@dataclass(frozen=True)
class Call:
    """One request's operation: its model, the service method that implements it (None when batchd
    does not support it) and, for rest-json, the values of the URI's labels."""

    operation: OperationModel
    handler: Handler | None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.operation.name)


class WireProtocol(Protocol):
    """One AWS protocol of one service, as the router drives it."""

    # The SigV4 signing name a request to this service must be scoped to.
    signing_name: str
    content_type: bytes
    # The error type of a request the model refuses (wrong type, missing member).
    client_error: type[BatchError]

    def find(self, method: str, path: str, raw_path: str, headers: Sequence[tuple[str, str]]) -> Call | None:
        """The call this request makes, None if it is not for this protocol; raises for a request that
        is this protocol's but names no operation."""
        ...

    def parameters(self, call: Call, body: bytes, query: str) -> dict[str, Any]: ...

    def unsupported(self, call: Call) -> BatchError:
        """The error for a modelled operation that batchd does not implement."""
        ...

    def render(self, result: dict[str, Any]) -> bytes: ...


def unsupported_message(service: str, call: Call, handlers: Mapping[str, Handler]) -> str:
    supported = ", ".join(sorted(handlers))
    return (
        f"batchd does not support the {service} operation {call.name}. "
        f"The operations it supports are: {supported}."
    )

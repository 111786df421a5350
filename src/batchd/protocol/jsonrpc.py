"""AWS's JSON 1.1 protocol (CloudWatch Logs): `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from batchd.awsmodel import service_model
from batchd.errors import BatchError, InvalidParameter, UnknownOperation
from batchd.protocol.calls import Call, unsupported_message
from batchd.protocol.restjson import parse_body
from batchd.service.api import Handler


class InvalidOperation(BatchError):
    """CloudWatch Logs' InvalidOperationException: here, an operation batchd does not implement."""

    error_type = "InvalidOperationException"


class JsonRpc:
    content_type = b"application/x-amz-json-1.1"
    client_error: type[BatchError] = InvalidParameter

    def __init__(self, service: str, handlers: Mapping[str, Handler]) -> None:
        model = service_model(service)
        self.signing_name: str = model.signing_name
        self._title: str = model.metadata.get("serviceId", service)
        self._prefix: str = model.metadata["targetPrefix"]
        self._operations = {name: model.operation_model(name) for name in model.operation_names}
        self._handlers = handlers

    def find(self, method: str, path: str, raw_path: str, headers: Sequence[tuple[str, str]]) -> Call | None:
        target = next((value for name, value in headers if name.lower() == "x-amz-target"), None)
        if target is None:
            return None
        prefix, _, name = target.strip().partition(".")
        if prefix != self._prefix:
            return None
        operation = self._operations.get(name)
        if operation is None:
            raise UnknownOperation(
                f"X-Amz-Target {target!r} names no operation of {self._title}.", status=400
            )
        if method != "POST":
            raise UnknownOperation(
                f"{self._title} operations are called with POST, not {method}.", status=400
            )
        return Call(operation, self._handlers.get(name))

    def parameters(self, call: Call, body: bytes, query: str) -> dict[str, Any]:
        return parse_body(body)

    def unsupported(self, call: Call) -> BatchError:
        return InvalidOperation(unsupported_message(self._title, call, self._handlers))

    def render(self, result: dict[str, Any]) -> bytes:
        return json.dumps(result, separators=(",", ":"), allow_nan=False).encode()

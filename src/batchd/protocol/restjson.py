"""AWS's rest-json protocol (Batch): operations routed by method and URI template, members from the URI's
labels, the query string and the JSON body; results and errors as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.model import OperationModel

from batchd.awsmodel import service_model
from batchd.errors import BatchError, ClientException, UnsupportedOperation
from batchd.protocol.calls import Call, unsupported_message
from batchd.service.api import Handler

MAX_BODY_BYTES = 1024 * 1024
# A \uD800-\uDFFF escape: valid JSON text, but alone it decodes to a lone surrogate, not a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (NaN, Infinity and -Infinity are refused)")


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's members. An empty body or JSON null means no members (docs/api.md, Requests)."""
    if len(body) > MAX_BODY_BYTES:
        raise ClientException(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientException(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ClientException(f"The request body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ClientException(
                "The request body holds a lone UTF-16 surrogate (\\uD800-\\uDFFF escape)."
            ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientException(f"The request body must be a JSON object, not a JSON {type(value).__name__}.")
    return value


def success_body(result: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN and Infinity are not JSON, so a result holding one fails (a 500) rather than
    # reaching a client whose parser would reject it.
    return json.dumps(result, separators=(",", ":"), allow_nan=False).encode()


def error_body(error: BatchError) -> bytes:
    return json.dumps({"__type": error.error_type, "message": error.message}, allow_nan=False).encode()


class RestJson:
    content_type = b"application/json"
    client_error: type[BatchError] = ClientException

    def __init__(self, service: str, handlers: Mapping[str, Handler]) -> None:
        model = service_model(service)
        self.signing_name: str = model.signing_name
        self._title: str = model.metadata.get("serviceId", service)
        self._handlers = handlers
        # Most routes are fixed paths, found in one lookup; the few with labels are matched by segment.
        self._fixed: dict[tuple[str, str], OperationModel] = {}
        self._templated: list[tuple[str, list[str], OperationModel]] = []
        for name in model.operation_names:
            operation = model.operation_model(name)
            method, uri = operation.http["method"], operation.http["requestUri"].split("?", 1)[0]
            if "{" in uri:
                self._templated.append((method, uri.strip("/").split("/"), operation))
            else:
                self._fixed[(method, uri)] = operation

    def find(self, method: str, path: str, raw_path: str, headers: Sequence[tuple[str, str]]) -> Call | None:
        operation = self._fixed.get((method, path))
        if operation is not None:
            return Call(operation, self._handlers.get(operation.name))
        segments = raw_path.split("?", 1)[0].strip("/").split("/")
        for route_method, template, operation in self._templated:
            if route_method == method:
                labels = _match(template, segments)
                if labels is not None:
                    return Call(operation, self._handlers.get(operation.name), labels)
        return None

    def parameters(self, call: Call, body: bytes, query: str) -> dict[str, Any]:
        params = parse_body(body)
        shape = call.operation.input_shape
        if shape is None:
            return params
        received = parse_qs(query, keep_blank_values=True)
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", name)
            if location == "uri" and wire_name in call.labels:
                params[name] = call.labels[wire_name]
            elif location == "querystring" and wire_name in received:
                values = received[wire_name]
                params[name] = values if member.type_name == "list" else values[-1]
        return params

    def unsupported(self, call: Call) -> BatchError:
        return UnsupportedOperation(unsupported_message(self._title, call, self._handlers))

    def render(self, result: dict[str, Any]) -> bytes:
        return success_body(result)


def _match(template: list[str], segments: list[str]) -> dict[str, str] | None:
    """The labels of a URI template matched by path segments (percent-decoded), or None.

    A label is one whole segment; a greedy label (`{name+}`) takes the rest of the path."""
    labels: dict[str, str] = {}
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or rest == [""]:
                return None
            labels[part[1:-2]] = unquote("/".join(rest))
            return labels
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not segments[index]:
                return None
            labels[part[1:-1]] = unquote(segments[index])
        elif part != segments[index]:
            return None
    return labels if len(segments) == len(template) else None

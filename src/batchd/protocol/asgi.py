"""The HTTP front door: an ASGI application that routes, authenticates and calls the service.

Endpoints raise; this is the one place that renders errors, so every failure has AWS's shape.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from batchd.errors import BatchError, ClientException, ServerException, UnknownOperation
from batchd.protocol.model import Operation, validate_input
from batchd.protocol.restjson import MAX_BODY_BYTES, error_body, parse_body, success_body
from batchd.service.api import Handler
from batchd.service.common import Caller

log = logging.getLogger("batchd.http")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# (method, path, query, headers, body) → the caller, or raise an AuthError.
Authenticate = Callable[[str, str, str, Sequence[tuple[str, str]], bytes], Caller]
# (headers, query) → None, or raise an AuthError: the check made before the body is read.
PreAuthenticate = Callable[[Sequence[tuple[str, str]], str], None]
Hook = Callable[[], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its whole request body arrived: the request is not executed."""


class BatchApp:
    def __init__(
        self,
        routes: Mapping[tuple[str, str], Operation],
        handlers: Mapping[str, Handler],
        authenticate: Authenticate,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        pre_authenticate: PreAuthenticate | None = None,
    ) -> None:
        self._pre_authenticate = pre_authenticate
        self._routes = routes
        self._handlers = handlers
        self._authenticate = authenticate
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await _refuse_websocket(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self._on_startup:
                        await hook()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                for hook in self._on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        method, path = scope["method"], scope["path"]
        try:
            if path == "/healthz" and method in ("GET", "HEAD"):
                status = 200 if self.ready else 503
                await _respond(
                    send, status, request_id, b'{"status":"ok"}' if self.ready else b'{"status":"starting"}'
                )
                return
            operation = self._routes.get((method, path))
            if operation is None:
                raise UnknownOperation(f"No operation at {method} {path}: this server implements AWS Batch.")
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            query = scope.get("query_string", b"").decode("latin-1")
            if self._pre_authenticate is not None:
                self._pre_authenticate(headers, query)
            body = await _read_body(scope, receive)
            caller = self._authenticate(
                method, scope.get("raw_path", path.encode()).decode("latin-1"), query, headers, body
            )
            params = parse_body(body)
            validate_input(operation, params)
            result = self._handlers[operation.name](caller, params)
            await _respond(send, 200, request_id, success_body(result))
        except _Disconnected:
            log.info("client disconnected before sending all of %s %s; not executed", method, path)
        except BatchError as error:
            await _respond(send, error.status, request_id, error_body(error), error.error_type)
        except Exception:
            # Operations are single transactions: an unexpected failure rolled back, so a 500 is honest.
            log.exception("internal error in %s %s (request %s)", method, path, request_id)
            internal = ServerException(f"Internal error; nothing was changed. Request id {request_id}.")
            await _respond(send, internal.status, request_id, error_body(internal), internal.error_type)


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise ClientException(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The body is incomplete (fewer bytes than Content-Length): executing it would act on half a
            # request, and there is nobody to answer.
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ClientException(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _refuse_websocket(receive: Receive, send: Send) -> None:
    """This server speaks HTTP only. Closing during the handshake makes the ASGI server answer 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


async def _respond(
    send: Send, status: int, request_id: str, body: bytes, error_type: str | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
    ]
    if error_type is not None:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

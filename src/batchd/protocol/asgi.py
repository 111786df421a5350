"""The HTTP front door: an ASGI application that routes, authenticates and calls the service.

Endpoints raise; this is the one place that renders errors, so every failure has AWS's shape. Besides the
Batch operations (JSON in, JSON out), the server has pages: handlers keyed by (method, path) that answer
the request themselves (/healthz, the /events stream), with the same authentication and error shape.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass
class PageRequest:
    """One request to a page. A page calls `caller()` to authenticate (as a Batch operation would), then
    answers with `respond()` or with its own `send()` messages; a BatchError it raises before answering
    is rendered in AWS's error shape."""

    scope: Scope
    receive: Receive
    send: Send
    request_id: str
    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    # Whether startup has finished (and shutdown not begun).
    ready: bool
    _authenticate: Callable[[], Awaitable[Caller]] = field(repr=False)
    started: bool = False

    async def caller(self) -> Caller:
        """Reads the (empty) body and verifies the signature: the caller, or an AuthError raised."""
        return await self._authenticate()

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    async def respond(self, status: int, body: bytes) -> None:
        await _respond(self.send, status, self.request_id, body)


Page = Callable[[PageRequest], Awaitable[None]]


async def healthz(request: PageRequest) -> None:
    """200 once the server is ready, 503 while it starts or stops."""
    body = b'{"status":"ok"}' if request.ready else b'{"status":"starting"}'
    await request.respond(200 if request.ready else 503, body)


class BatchApp:
    def __init__(
        self,
        routes: Mapping[tuple[str, str], Operation],
        handlers: Mapping[str, Handler],
        authenticate: Authenticate,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        pre_authenticate: PreAuthenticate | None = None,
        pages: Mapping[tuple[str, str], Page] | None = None,
    ) -> None:
        self._pre_authenticate = pre_authenticate
        self._pages: Mapping[tuple[str, str], Page] = (
            pages if pages is not None else {("GET", "/healthz"): healthz, ("HEAD", "/healthz"): healthz}
        )
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
        page_request: PageRequest | None = None
        try:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            query = scope.get("query_string", b"").decode("latin-1")

            async def verify() -> tuple[Caller, bytes]:
                if self._pre_authenticate is not None:
                    self._pre_authenticate(headers, query)
                body = await _read_body(scope, receive)
                raw_path = scope.get("raw_path", path.encode()).decode("latin-1")
                return self._authenticate(method, raw_path, query, headers, body), body

            async def page_caller() -> Caller:
                return (await verify())[0]

            page = self._pages.get((method, path))
            if page is not None:
                page_request = PageRequest(
                    scope, receive, send, request_id, method, path, query, headers, self.ready, page_caller
                )
                page_request.send = _tracking(page_request, send)
                await page(page_request)
                return
            operation = self._routes.get((method, path))
            if operation is None:
                raise UnknownOperation(f"No operation at {method} {path}: this server implements AWS Batch.")
            caller, body = await verify()
            params = parse_body(body)
            validate_input(operation, params)
            result = self._handlers[operation.name](caller, params)
            await _respond(send, 200, request_id, success_body(result))
        except _Disconnected:
            log.info("client disconnected before sending all of %s %s; not executed", method, path)
        except BatchError as error:
            if page_request is not None and page_request.started:
                log.warning("%s %s failed after its response began: %s", method, path, error.message)
                return
            await _respond(send, error.status, request_id, error_body(error), error.error_type)
        except Exception:
            log.exception("internal error in %s %s (request %s)", method, path, request_id)
            if page_request is not None and page_request.started:
                return
            # Operations are single transactions: an unexpected failure rolled back, so a 500 is honest.
            internal = ServerException(f"Internal error; nothing was changed. Request id {request_id}.")
            await _respond(send, internal.status, request_id, error_body(internal), internal.error_type)


def _tracking(request: PageRequest, send: Send) -> Send:
    """`send` that records when the response began: after that an error can no longer be answered."""

    async def tracked(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            request.started = True
        await send(message)

    return tracked


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

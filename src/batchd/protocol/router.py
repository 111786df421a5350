"""The front door: one ASGI router for every service batchd speaks, and the pages beside them.

A request is for a page when its (method, path) is mounted; otherwise the protocols tell it apart as AWS's
SDKs send it: an `X-Amz-Target` header is a JSON 1.1 call (CloudWatch Logs), anything else a rest-json
route of Batch's model. The signature is verified for the service's own signing name. Endpoints raise;
this is the one place that renders errors, so every failure has AWS's shape for its protocol.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from batchd.errors import BatchError, ClientException, ServerException, UnknownOperation
from batchd.protocol.calls import Call, WireProtocol
from batchd.protocol.model import validate_input
from batchd.protocol.pages import Page, PageRequest, Receive, Scope, Send, healthz
from batchd.protocol.restjson import MAX_BODY_BYTES, error_body
from batchd.service.common import Caller

log = logging.getLogger("batchd.http")

# (signing name, method, path, query, headers, body) → the caller, or raise an AuthError.
Authenticate = Callable[[str, str, str, str, Sequence[tuple[str, str]], bytes], Caller]
# (headers, query) → None, or raise an AuthError: the check made before the body is read.
PreAuthenticate = Callable[[Sequence[tuple[str, str]], str], None]
Hook = Callable[[], Awaitable[None]]
JSON = b"application/json"
# The signing name pages are authenticated with: they belong to the Batch side of the server.
PAGE_SIGNING_NAME = "batch"


class _Disconnected(Exception):
    """The client went away before its whole request body arrived: the request is not executed."""


class Router:
    def __init__(
        self,
        protocols: Sequence[WireProtocol],
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
        self._protocols = protocols
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

    def _find(
        self, method: str, path: str, raw_path: str, headers: Sequence[tuple[str, str]]
    ) -> tuple[WireProtocol, Call]:
        for protocol in self._protocols:
            call = protocol.find(method, path, raw_path, headers)
            if call is not None:
                return protocol, call
        if any(name.lower() == "x-amz-target" for name, _ in headers):
            target = next(value for name, value in headers if name.lower() == "x-amz-target")
            raise UnknownOperation(
                f"X-Amz-Target {target!r} names no service of this server: it serves AWS Batch (rest-json) "
                "and CloudWatch Logs (Logs_20140328.*).",
                status=400,
            )
        raise UnknownOperation(
            f"No operation at {method} {path}: this server implements AWS Batch and CloudWatch Logs."
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        method, path = scope["method"], scope["path"]
        page_request: PageRequest | None = None
        content_type = JSON
        try:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            query = scope.get("query_string", b"").decode("latin-1")
            raw_path = scope.get("raw_path", path.encode()).decode("latin-1")

            async def verify(signing_name: str) -> tuple[Caller, bytes]:
                if self._pre_authenticate is not None:
                    self._pre_authenticate(headers, query)
                body = await _read_body(scope, receive)
                return self._authenticate(signing_name, method, raw_path, query, headers, body), body

            page = self._pages.get((method, path))
            if page is not None:

                async def page_caller() -> Caller:
                    return (await verify(PAGE_SIGNING_NAME))[0]

                async def page_respond(status: int, body: bytes) -> None:
                    await _respond(send, status, request_id, body, JSON)

                page_request = PageRequest(
                    scope, receive, send, request_id, method, path, query, headers, self.ready, page_caller,
                    page_respond,
                )  # fmt: skip
                page_request.send = _tracking(page_request, send)
                await page(page_request)
                return
            protocol, call = self._find(method, path, raw_path, headers)
            content_type = protocol.content_type
            caller, body = await verify(protocol.signing_name)
            if call.handler is None:
                raise protocol.unsupported(call)
            params = protocol.parameters(call, body, query)
            validate_input(call.operation, params, protocol.client_error)
            result = call.handler(caller, params)
            await _respond(send, 200, request_id, protocol.render(result), content_type)
        except _Disconnected:
            log.info("client disconnected before sending all of %s %s; not executed", method, path)
        except BatchError as error:
            if page_request is not None and page_request.started:
                log.warning("%s %s failed after its response began: %s", method, path, error.message)
                return
            await _respond(send, error.status, request_id, error_body(error), content_type, error.error_type)
        except Exception:
            log.exception("internal error in %s %s (request %s)", method, path, request_id)
            if page_request is not None and page_request.started:
                return
            # Operations are single transactions: an unexpected failure rolled back, so a 500 is honest.
            internal = ServerException(f"Internal error; nothing was changed. Request id {request_id}.")
            await _respond(
                send, internal.status, request_id, error_body(internal), content_type, internal.error_type
            )


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
    send: Send, status: int, request_id: str, body: bytes, content_type: bytes, error_type: str | None = None
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
    ]
    if error_type is not None:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

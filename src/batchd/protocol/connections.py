"""Connections: uvicorn's HTTP protocol with a deadline for each request's line and headers, and AWS's error
shape for the requests uvicorn refuses itself (malformed ones, and those over the concurrency limit)."""

from __future__ import annotations

import asyncio
import sys
import uuid

import httptools
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from batchd.errors import BatchError, ClientException
from batchd.protocol.restjson import error_body

# Over the concurrency limit. Every botocore retry mode retries a 503 whatever its error type (legacy: the
# `service_unavailable` rule of _retry.json; standard and adaptive: a transient status); a throttling type
# besides makes standard mode charge its retry quota less (5, not 14) and makes adaptive mode slow its
# sending rate, which is what an overloaded server wants from its clients.
OVER_LIMIT_TYPE = "ThrottlingException"
OVER_LIMIT_STATUS = 503

# llhttp's reason (lower case) → what to change. The first match wins; the reason itself is always quoted.
_ADVICE: tuple[tuple[str, str], ...] = (
    ("can't be present with", "send either Content-Length or Transfer-Encoding, not both."),
    ("duplicate content-length", "send Content-Length once."),
    ("content-length", "Content-Length must be the body's size in bytes, in decimal digits only."),
    ("transfer-encoding", "the only Transfer-Encoding accepted is chunked, as the last encoding."),
    ("chunk", "each chunk of a chunked body starts with its size in hexadecimal, on a line of its own."),
    ("header value", "header values may not hold control characters."),
    (
        "header token",
        "each header line must be `Name: value`, the name letters, digits and !#$%&'*+-.^_`|~ only, with no "
        "space before the colon.",
    ),
    ("http version", "the request line must end with HTTP/1.1 (or HTTP/1.0)."),
    (
        "expected http/",
        "the request line must be `METHOD /path HTTP/1.1`, spaces in the path percent-encoded.",
    ),
    ("crlf", "each line of the request head must end with CRLF (\\r\\n)."),
    ("url", "the request target must be an ASCII path: percent-encode any other character."),
    (
        "method",
        "the request line must start with an HTTP method in capitals, e.g. `POST /v1/submitjob HTTP/1.1`.",
    ),
)


def _malformed_message(error: BaseException | None, opening: bytes | None) -> str:
    """What was wrong with a request uvicorn's parser refused, and what to change."""
    if opening is not None and opening.startswith(b"\x16\x03"):
        return (
            "The request is a TLS handshake, but this port speaks plain HTTP: use an http:// endpoint URL "
            "(or put a TLS-terminating proxy in front of the server)."
        )
    if isinstance(error, httptools.HttpParserCallbackError):
        # The parser accepted the bytes but uvicorn could not read them: its only failures are a request
        # target that is not ASCII or not a URL.
        return (
            "The request is not valid HTTP/1.1: the request target could not be read; it must be ASCII, "
            "with any other character percent-encoded."
        )
    reason = str(error).strip().rstrip(".") if error is not None else ""
    lowered = reason.lower()
    advice = next(
        (text for key, text in _ADVICE if key in lowered),
        "check the request line (`METHOD /path HTTP/1.1`) and that each header is `Name: value`.",
    )
    said = f" ({reason})" if reason else ""
    return f"The request is not valid HTTP/1.1{said}: {advice}"


def _error_headers(error: BatchError, request_id: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of batchd's error responses (as protocol/router.py sends them), with Connection: close."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
        (b"x-amzn-errortype", error.error_type.encode()),
        (b"connection", b"close"),
    ]


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline for a request's line and headers, and AWS-shaped
    refusals.

    uvicorn (0.55) only arms its keep-alive timer after a response, and cancels it on any byte received, so a
    connection that sends nothing, or half a request line and then nothing, would be held open forever. Here
    a connection must complete each request's headers within HEADER_TIMEOUT seconds of opening (or of the
    request's first byte), or it is closed.

    uvicorn answers a request its parser refuses, and one over `limit_concurrency`, in plain text of its own.
    AWS SDKs read the error type and message of a response from JSON (rest-json): here both answers carry
    batchd's error shape, so a client reports what is wrong instead of an unparsable body."""

    HEADER_TIMEOUT = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._headers_pending = True
        self._opening: bytes | None = None
        self._refusal: bytes | None = None  # the 400 of a malformed request, once its parsing failed
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.HEADER_TIMEOUT, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self._headers_pending and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._opening is None:
            # Kept to tell a TLS handshake (sent to this plain-HTTP port) from other garbage.
            self._opening = data[:2]
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this from the `except httptools.HttpParserError` of data_received, with a fixed text:
        # the exception being handled is the parser's, and its reason says what was wrong.
        if self._refusal is not None:
            return  # already refused: bytes read after the first error are no request either
        error = ClientException(_malformed_message(sys.exc_info()[1], self._opening))
        body = error_body(error)
        headers = [*self.server_state.default_headers, *_error_headers(error, str(uuid.uuid4()), body)]
        head = [STATUS_LINE[error.status], *(name + b": " + value + b"\r\n" for name, value in headers)]
        self._refusal = b"".join([*head, b"\r\n", body])
        # Nothing after the error can be parsed, and the connection ends with the refusal.
        self.flow.pause_reading()
        self._headers_pending = False
        self._cancel_header_timer()
        # Requests pipelined before the malformed one may still be being answered: uvicorn would close the
        # connection under them, dropping the answer of a request that may have run. The refusal follows
        # their answers instead (from on_response_complete).
        self._send_refusal_when_due()

    def _send_refusal_when_due(self) -> None:
        # self.cycle is the last request parsed: its body is the malformed part when it is incomplete
        # (its application waits for the rest and, the connection closed, sees a disconnect: it is not
        # executed); otherwise the error came after it, and its answer goes first.
        cycle = self.cycle
        due = cycle is None or cycle.response_complete or (cycle.more_body and not self.pipeline)
        if due and self._refusal is not None and not self.transport.is_closing():
            self.transport.write(self._refusal)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None:
            self._send_refusal_when_due()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # on_headers_complete picks uvicorn's plain-text 503 app when the limit is exceeded; queued pipelined
        # requests come here too, so this one place swaps it for ours.
        super()._start_asgi_task(cycle, self._over_limit if app is service_unavailable else app)

    async def _over_limit(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        error = BatchError(
            f"The server is handling as many connections and requests as it may at once "
            f"({self.limit_concurrency}); retry after a short wait.",
            status=OVER_LIMIT_STATUS,
            error_type=OVER_LIMIT_TYPE,
        )
        body = error_body(error)
        headers = _error_headers(error, str(uuid.uuid4()), body)
        # Connection: close frees this connection's place for another client.
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_pending = True
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._headers_pending = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

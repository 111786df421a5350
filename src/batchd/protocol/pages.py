"""Pages: endpoints beside the AWS protocols (/healthz, the /events stream, later /metrics and /console).

A page is mounted on the router by (method, path) and answers the request itself, with the same
authentication and error shape as an operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchd.service.common import Caller

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
    _respond: Callable[[int, bytes], Awaitable[None]] = field(repr=False)
    started: bool = False

    async def caller(self) -> Caller:
        """Reads the (empty) body and verifies the signature: the caller, or an AuthError raised."""
        return await self._authenticate()

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    async def respond(self, status: int, body: bytes) -> None:
        await self._respond(status, body)


Page = Callable[[PageRequest], Awaitable[None]]


async def healthz(request: PageRequest) -> None:
    """200 once the server is ready, 503 while it starts or stops."""
    body = b'{"status":"ok"}' if request.ready else b'{"status":"starting"}'
    await request.respond(200 if request.ready else 503, body)

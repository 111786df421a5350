"""Connections: uvicorn's HTTP protocol with a deadline for each request's line and headers."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline for a request's line and headers.

    uvicorn (0.55) only arms its keep-alive timer after a response, and cancels it on any byte received, so a
    connection that sends nothing, or half a request line and then nothing, would be held open forever. Here
    a connection must complete each request's headers within HEADER_TIMEOUT seconds of opening (or of the
    request's first byte), or it is closed."""

    HEADER_TIMEOUT = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._headers_pending = True
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

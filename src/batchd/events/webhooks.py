"""`--event-webhook URL`: every job event POSTed to each URL, in order, at least once.

One delivery task per URL reads the store on the event loop and makes each POST in a worker thread
(asyncio.to_thread), so a slow or absent receiver never holds up the scheduler or requests. A failed POST
(no connection, a timeout, a non-2xx answer) is retried with exponential backoff until it succeeds; only
then does the next event go. The URL's cursor, the seq of the last event it accepted, is kept in the
store's meta table, so a restart carries on from there; an event accepted just before a crash, whose
cursor was not yet written, is sent again (same `id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from batchd.events.hub import EventHub
from batchd.events.shape import to_json
from batchd.store.errors import StoreError
from batchd.store.sqlite import SqliteStore

log = logging.getLogger("batchd.events")

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# Short, so a receiver that hangs is retried soon, and an in-flight POST holds up shutdown little.
POST_TIMEOUT_SECONDS = 5.0
PAGE_SIZE = 100
RESUME_SECONDS = 5.0


def webhook_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return f"not a valid URL ({exc}): {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL with a host, got {url!r}"
    if parts.username is not None or parts.password is not None:
        return f"must not carry user:password@ (put a token in the path or query instead), got {url!r}"
    return None


def cursor_key(url: str) -> str:
    return f"event_webhook_cursor {url}"


def _shown(url: str) -> str:
    """The URL as logged: without its query, which may hold a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not an acceptance: urllib would follow a 302 with a GET that drops the event."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Proxies from the environment (HTTP(S)_PROXY, NO_PROXY) are honoured, as urllib does by default.
_OPENER = urllib.request.build_opener(_NoRedirects())


def _post(url: str, body: bytes) -> str | None:
    """One delivery attempt, in a worker thread: None when the receiver accepted it, else why not."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/json", "user-agent": "batchd"}
    )
    try:
        with _OPENER.open(request, timeout=POST_TIMEOUT_SECONDS) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    return None if 200 <= status < 300 else f"HTTP {status}"


class Webhook:
    """Delivers the event history to one URL, from its stored cursor on."""

    def __init__(self, url: str, store: SqliteStore, hub: EventHub) -> None:
        self.url = url
        self._store = store
        self._hub = hub
        self._key = cursor_key(url)
        self.cursor = self._start_cursor()

    def _start_cursor(self) -> int:
        """The stored cursor; for a URL seen for the first time, the end of the history as it is now
        (a new webhook gets the events from its start on, not the retained past), stored at once so a
        restart before its first event loses nothing."""
        with self._store.transaction():
            stored = self._store.get_meta(self._key)
            if stored is not None:
                return int(stored)
            cursor = self._store.last_event_seq()
            self._store.set_meta(self._key, str(cursor))
        return cursor

    async def run(self) -> None:
        while not self._hub.closed:
            change = self._hub.next_change()
            try:
                events = self._store.events_after(self.cursor, limit=PAGE_SIZE)
                if not events:
                    await change
                    continue
            finally:
                self._hub.forget(change)
            for event in events:
                await self._deliver(event.seq, to_json(event).encode())

    async def _deliver(self, seq: int, body: bytes) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            problem = await asyncio.to_thread(_post, self.url, body)
            if problem is None:
                break
            log.warning(
                "event webhook %s: event %d not delivered (%s); retrying in %.1f s",
                _shown(self.url),
                seq,
                problem,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        self.cursor = seq
        try:
            with self._store.transaction():
                self._store.set_meta(self._key, str(seq))
        except StoreError as exc:
            # Delivered all the same; the cursor is written with a later event, or the event is sent
            # again after a restart (at least once).
            log.warning("event webhook %s: cannot record the cursor: %s", _shown(self.url), exc)


class Webhooks:
    """Every configured webhook's delivery task, started and stopped with the server."""

    def __init__(self, urls: Sequence[str], store: SqliteStore, hub: EventHub) -> None:
        self._hooks = [Webhook(url, store, hub) for url in dict.fromkeys(urls)]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for hook in self._hooks:
            self._tasks.append(asyncio.create_task(self._run(hook), name=f"webhook {_shown(hook.url)}"))

    async def _run(self, hook: Webhook) -> None:
        while True:
            try:
                await hook.run()
                return
            except Exception:
                # E.g. the store failing a read: delivery resumes from the cursor rather than ending.
                log.exception("event webhook %s failed; resuming in %.0f s", _shown(hook.url), RESUME_SECONDS)
                await asyncio.sleep(RESUME_SECONDS)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

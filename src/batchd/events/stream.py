"""`GET /events`: the job event history as server-sent events, then live events as they are committed.

Each event is `id: <seq>` and `data: <EventBridge JSON>`; the id is the history's sequence number, kept in
the database, so `Last-Event-ID` (or `?after=`) resumes exactly after the last event a client saw, across
server restarts too. Streams read the store on the event loop (it is not thread safe) a page at a time
and wait on the EventHub between pages, so an idle stream costs a future and a heartbeat timer.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from batchd.errors import ClientException
from batchd.events.hub import EventHub
from batchd.events.shape import to_json
from batchd.protocol.pages import PageRequest, Receive
from batchd.store.sqlite import JobEvent, SqliteStore

HEARTBEAT_SECONDS = 15.0
PAGE_SIZE = 500
_PARAMETERS = ("after", "job", "follow")
_EVENT_ID = re.compile(r"[0-9]{1,19}")
_MAX_EVENT_ID = 2**63 - 1
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# A comment line: clients ignore it, proxies see traffic and keep the connection open.
_HEARTBEAT = b": keep-alive\n\n"
_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    # nginx buffers responses by default, which would hold events back; this asks it not to.
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True)
class StreamOptions:
    after: int = 0
    job: str | None = None
    follow: bool = True


def _event_id(name: str, text: str) -> int:
    value = text.strip()
    if not _EVENT_ID.fullmatch(value) or int(value) > _MAX_EVENT_ID:
        raise ClientException(
            f"{name} must be an event id (a whole number, 0 or more: the id of the last event received), "
            f"got {text!r}."
        )
    return int(value)


def parse_options(query: str, last_event_id: str | None) -> StreamOptions:
    """The stream's options from its query and Last-Event-ID header; a ClientException names a bad one.

    Last-Event-ID wins over `after`: an EventSource reconnecting sends it with the URL it first opened."""
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.startswith("X-Amz-"):
            continue  # a presigned request's signature, checked by the authentication
        if key not in _PARAMETERS:
            raise ClientException(f"/events has no query parameter {key!r}; it takes after, job and follow.")
        if key in values:
            raise ClientException(f"The query parameter {key!r} is given more than once.")
        values[key] = value
    after = 0
    if last_event_id is not None and last_event_id.strip():
        after = _event_id("Last-Event-ID", last_event_id)
    elif "after" in values:
        after = _event_id("after", values["after"])
    job = values.get("job")
    if job is not None and not 1 <= len(job) <= 1024:
        raise ClientException("job must be a job id (1 to 1024 characters).")
    follow = values.get("follow", "true").lower()
    if follow not in _TRUE + _FALSE:
        raise ClientException(f"follow must be true or false, got {values['follow']!r}.")
    return StreamOptions(after=after, job=job, follow=follow in _TRUE)


def _frame(events: list[JobEvent]) -> bytes:
    return "".join(f"id: {e.seq}\ndata: {to_json(e)}\n\n" for e in events).encode()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStreams:
    """The `GET /events` page."""

    def __init__(
        self, store: SqliteStore, hub: EventHub, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self._store = store
        self._hub = hub
        self._heartbeat = heartbeat_seconds

    async def page(self, request: PageRequest) -> None:
        # Authentication first: an unsigned or foreign caller learns nothing, not even about its query.
        caller = await request.caller()
        options = parse_options(request.query, request.header("last-event-id"))
        account = caller.account
        if options.job is not None and not self._store.existing_job_ids(account, [options.job]):
            raise ClientException(f"Job {options.job} does not exist.")
        headers = [*_HEADERS, (b"x-amzn-requestid", request.request_id.encode())]
        await request.send({"type": "http.response.start", "status": 200, "headers": headers})
        disconnect = asyncio.ensure_future(_until_disconnect(request.receive))
        try:
            await self._stream(request, options, account, disconnect)
        finally:
            disconnect.cancel()
        # After a disconnect the ASGI server drops this; otherwise it ends the chunked body cleanly.
        await request.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream(
        self, request: PageRequest, options: StreamOptions, account: str, disconnect: asyncio.Future[None]
    ) -> None:
        cursor = options.after
        while not disconnect.done():
            # Taken before reading: an event committed while this stream sends still wakes it.
            change = self._hub.next_change()
            try:
                events = self._store.events_after(
                    cursor, account=account, job_id=options.job, limit=PAGE_SIZE
                )
                if events:
                    await request.send(
                        {"type": "http.response.body", "body": _frame(events), "more_body": True}
                    )
                    cursor = events[-1].seq
                    if len(events) == PAGE_SIZE:
                        continue  # more history behind this page: no wait
                if not options.follow or self._hub.closed:
                    return
                done, _ = await asyncio.wait(
                    {change, disconnect}, timeout=self._heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    await request.send({"type": "http.response.body", "body": _HEARTBEAT, "more_body": True})
            finally:
                self._hub.forget(change)

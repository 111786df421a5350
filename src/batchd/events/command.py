"""`batchd events`: the server's job events, one EventBridge JSON per line, optionally followed live.

A client of `GET /events` like any other: requests are SigV4-signed (service `batch`) with botocore's
usual credentials (environment, profile) when there are any. With `--follow` a dropped connection, or a
server restart, is followed by a new request from the last event printed (`?after=`), so nothing is
printed twice or skipped.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import urlencode

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
# The server sends a keep-alive comment every 15 s: this much silence means the connection is gone.
READ_TIMEOUT_SECONDS = 60.0
MAX_RECONNECT_SECONDS = 5.0


class _Fatal(Exception):
    """An answer that retrying cannot change (refused signature, bad query): reported, exit 1."""


class _Dropped(OSError):
    """The connection ended mid-stream; `after` is the last event printed before it did."""

    def __init__(self, after: int | None, cause: Exception) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.after = after


def _credentials() -> tuple[Any, str | None]:
    """botocore's credentials (None when there are none: then requests go unsigned) and region."""
    import botocore.session

    session = botocore.session.Session()
    return session.get_credentials(), session.get_config_variable("region")


def _signed_headers(url: str, credentials: Any, region: str) -> dict[str, str]:
    headers = {"accept": "text/event-stream"}
    if credentials is None:
        return headers
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="GET", url=url, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "batch", region).add_auth(request)
    return dict(request.headers.items())


def _sse_events(lines: IO[bytes]) -> Iterator[tuple[int | None, str]]:
    """(id, data) of each event of a text/event-stream; comments (keep-alives) are skipped."""
    event_id: int | None = None
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event_id, "\n".join(data)
            event_id, data = None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id" and value.isdigit():
                event_id = int(value)
            elif name == "data":
                data.append(value)


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        return f"{body.get('__type', f'HTTP {exc.code}')}: {body.get('message', '')}".rstrip(": ")
    except ValueError:
        return f"HTTP {exc.code}"
    finally:
        exc.close()


class _Reader:
    def __init__(self, endpoint: str, region: str | None, job: str | None, follow: bool) -> None:
        self._base = endpoint.rstrip("/") + "/events"
        self._job = job
        self._follow = follow
        self._credentials, configured = _credentials()
        self._region = region or configured or "us-east-1"
        # Streams opened so far: a lost connection is reported once, not at every reconnection attempt.
        self.opened = 0

    def _url(self, after: int | None) -> str:
        params: dict[str, str] = {"follow": "true" if self._follow else "false"}
        if after is not None:
            params["after"] = str(after)
        if self._job is not None:
            params["job"] = self._job
        return f"{self._base}?{urlencode(params)}"

    def read(self, after: int | None) -> int | None:
        """Prints events past `after` until the stream ends; returns the id of the last one printed."""
        url = self._url(after)
        request = urllib.request.Request(url, headers=_signed_headers(url, self._credentials, self._region))
        try:
            response = urllib.request.urlopen(request, timeout=READ_TIMEOUT_SECONDS)
        except urllib.error.HTTPError as exc:
            message = _error_of(exc)
            if exc.code < 500:
                raise _Fatal(message) from None
            raise OSError(message) from None
        self.opened += 1
        with response:
            try:
                for event_id, data in _sse_events(response):
                    print(data, flush=True)
                    if event_id is not None:
                        after = event_id
            except http.client.HTTPException as exc:
                # The server went away mid-stream (killed): a dropped connection, resumed from `after`.
                raise _Dropped(after, exc) from None
            except OSError as exc:
                raise _Dropped(after, exc) from None
        return after


def print_events(endpoint: str, region: str | None, follow: bool, after: int | None, job: str | None) -> int:
    reader = _Reader(endpoint, region, job, follow)
    delay = 0.2
    reported = -1
    try:
        while True:
            try:
                after = reader.read(after)
                if not follow:
                    return 0
                delay = 0.2  # the server ended the stream (it stopped): reconnect soon
            except _Fatal as exc:
                print(f"batchd events: {exc}", file=sys.stderr)
                return 1
            except OSError as exc:
                if isinstance(exc, _Dropped):
                    after = exc.after
                reason = getattr(exc, "reason", None) or exc
                if not follow:
                    print(f"batchd events: cannot read {endpoint}/events: {reason}", file=sys.stderr)
                    return 1
                if reported != reader.opened:
                    reported = reader.opened
                    print(f"batchd events: no connection ({reason}); retrying", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

"""The CloudWatch Logs read API over the attempt logs batchd keeps: GetLogEvents, FilterLogEvents,
DescribeLogStreams, DescribeLogGroups (docs/api.md, CloudWatch Logs).

Streams are listed from the store's log_streams index; events are read from the attempt's log file by
byte offset (batchd.logs.reader), so every page reads a bounded number of bytes wherever it starts:
its cost does not grow with the stream. Tokens carry those offsets.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchd.domain.arns import Scope
from batchd.domain.filter_patterns import parse_filter_pattern
from batchd.errors import ClientException, InvalidParameter, ResourceNotFound
from batchd.logs.files import log_path
from batchd.logs.reader import CHUNK, Event, LogFile
from batchd.service.common import Caller
from batchd.service.pagination import Paginator
from batchd.store.sqlite import SqliteStore

# AWS's limits for one GetLogEvents or FilterLogEvents answer: 10,000 events or 1 MB, where an event
# counts its UTF-8 message plus 26 bytes.
MAX_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
EVENT_OVERHEAD = 26
# What one FilterLogEvents call reads at most before answering (with a nextToken) even when its pattern
# matched little: a search of a large group is paged, never one long request. Requests are served on the
# event loop, so this bounds how long one search holds the others up (about 0.1 s of decoding here);
# twice the largest answer, so a page of short lines can still be filled.
MAX_SCAN_BYTES = 2 * MAX_RESPONSE_BYTES
# What one GetLogEvents call reads at most, whatever its time range skips.
MAX_READ_BYTES = 2 * MAX_RESPONSE_BYTES
MAX_DESCRIBE = 50

_TOKEN = re.compile(r"([fb])/(\d{1,20})")
_GROUP_ARN = re.compile(r"arn:[\w-]+:logs:([\w-]+):(\d{12}):log-group:([^:]+)(?::\*)?")


def _group_arn(scope: Scope, group: str) -> str:
    return f"arn:{scope.partition}:logs:{scope.region}:{scope.account_id}:log-group:{group}"


def _cost(event: Event) -> int:
    return len(event.message.encode("utf-8")) + EVENT_OVERHEAD


def _limit(params: dict[str, Any], most: int) -> int:
    limit = params.get("limit")
    if limit is None:
        return most
    if not 1 <= limit <= most:
        raise InvalidParameter(f"limit must be between 1 and {most}, got {limit}.")
    return int(limit)


def _event_id(group: str, stream: str, offset: int) -> str:
    """Stable across calls and restarts: the stream's digest and the event's offset in it."""
    digest = int.from_bytes(hashlib.blake2b(f"{group}\0{stream}".encode(), digest_size=8).digest(), "big")
    return f"{digest:020d}{offset:020d}"


@dataclass
class _Cursor:
    """One stream in a FilterLogEvents merge: its next event and the events after it."""

    name: str
    file: LogFile
    events: Iterator[Event]
    head: Event


class _Merge:
    """The open streams of a FilterLogEvents call, merged by timestamp (then by stream creation, then
    offset, so the order is the same on every call)."""

    def __init__(self, open_file: Callable[[str], LogFile], order: dict[str, int], start: int | None) -> None:
        self._open_file, self._order, self._start = open_file, order, start
        self._heap: list[tuple[int, int, int, int, _Cursor]] = []
        self._ties = itertools.count()

    def _push(self, cursor: _Cursor) -> None:
        head = cursor.head
        rank = self._order.get(cursor.name, len(self._order))
        heapq.heappush(self._heap, (head.timestamp, rank, head.offset, next(self._ties), cursor))

    def open(self, name: str, offset: int | None) -> None:
        file = self._open_file(name)
        if offset is None:
            offset = file.seek_time(self._start) if self._start else 0
        # Read lazily, a chunk at a time: the budget only says the reader may go to the end.
        events = file.forward(file.line_start(offset), budget=file.size)
        head = next(events, None)
        if head is None:
            file.close()
            return
        self._push(_Cursor(name, file, events, head))

    def next_timestamp(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def peek(self) -> tuple[str, Event] | None:
        if not self._heap:
            return None
        cursor = self._heap[0][-1]
        return cursor.name, cursor.head

    def advance(self) -> None:
        """Takes the next event: its stream moves on, or leaves the merge at its end."""
        cursor = heapq.heappop(self._heap)[-1]
        following = next(cursor.events, None)
        if following is None:
            cursor.file.close()
            return
        cursor.head = following
        self._push(cursor)

    def positions(self) -> list[list[Any]]:
        """Where each open stream goes on: what a nextToken carries."""
        return [[entry[-1].name, entry[-1].head.offset] for entry in self._heap]

    def close(self) -> None:
        for entry in self._heap:
            entry[-1].file.close()
        self._heap.clear()


class Logs:
    def __init__(self, store: SqliteStore, logs_dir: Path, paginator: Paginator) -> None:
        self._store = store
        self._logs_dir = logs_dir
        self._paginator = paginator

    # --- operations -----------------------------------------------------------------------------------

    def get_log_events(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group(caller, params)
        stream: str = params["logStreamName"]
        if self._store.log_stream_created(caller.account, group, stream) is None:
            self._require_group(caller, group)
            raise ResourceNotFound("The specified log stream does not exist.")
        limit = _limit(params, MAX_EVENTS)
        start, end = params.get("startTime"), params.get("endTime")
        token = params.get("nextToken")
        with self._open(caller, stream) as file:
            if token is not None:
                direction, offset = self._read_token(token, file)
            elif params.get("startFromHead"):
                direction, offset = "f", file.seek_time(start) if start else 0
            else:
                direction, offset = "b", file.seek_time(end) if end is not None else file.size
            # A token's direction wins over startFromHead, as on AWS: a client pages back with b/ tokens.
            if direction == "f":
                events, first, last = self._forward(file, offset, limit, start, end)
            else:
                events, first, last = self._backward(file, offset, limit, start)
        return {
            "events": [
                {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp} for e in events
            ],
            # At the end of the stream these are the tokens that were passed in: clients stop on that.
            "nextForwardToken": f"f/{last}",
            "nextBackwardToken": f"b/{first}",
        }

    def filter_log_events(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group(caller, params)
        names: list[str] | None = params.get("logStreamNames")
        prefix: str | None = params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidParameter("logStreamNames and logStreamNamePrefix cannot both be given.")
        pattern = parse_filter_pattern(params.get("filterPattern"))
        limit = _limit(params, MAX_EVENTS)
        start, end = params.get("startTime"), params.get("endTime")
        if start is not None and end is not None and end < start:
            raise InvalidParameter(f"endTime ({end}) must not be before startTime ({start}).")
        self._require_group(caller, group)
        filters = [group, names, prefix, params.get("filterPattern"), start, end]
        state = self._resume("FilterLogEvents", caller, filters, params.get("nextToken"))
        streams = self._store.log_streams(caller.account, group, prefix or "")
        if names is not None:
            wanted = set(names)
            streams = [s for s in streams if s[0] in wanted]
        # Opened lazily in the order they were made: a stream's events come after its creation, so the
        # merge needs open only the streams that began before the event it is at.
        streams.sort(key=lambda s: (s[1], s[0]))
        order = {name: index for index, (name, _) in enumerate(streams)}
        merge = _Merge(lambda name: self._open(caller, name), order, start)
        opened = 0
        if state is not None:
            # Streams are found again by creation and name, not by position: purges may have removed some.
            opened = bisect.bisect_right([(c, n) for n, c in streams], tuple(state["c"])) if state["c"] else 0
            for name, offset in state["o"]:
                merge.open(name, offset)
        found: list[dict[str, Any]] = []
        size = scanned = 0
        complete = True
        try:
            while True:
                # Open every stream made before the event the merge would take next: only those can hold
                # an earlier one. Each opened stream may bring an earlier event, so again until none does.
                while opened < len(streams):
                    horizon = merge.next_timestamp()
                    if horizon is None:
                        horizon = streams[opened][1]
                    if start is not None:
                        horizon = max(horizon, start)
                    created = streams[opened][1]
                    if end is not None and created >= end:
                        opened = len(streams)  # made after the range: none of their events is in it
                    elif created <= horizon:
                        merge.open(streams[opened][0], None)
                        opened += 1
                    else:
                        break
                taken = merge.peek()
                if taken is None or (end is not None and taken[1].timestamp >= end):
                    break
                name, event = taken
                if (
                    len(found) >= limit
                    or scanned >= MAX_SCAN_BYTES
                    or (found and size + _cost(event) > MAX_RESPONSE_BYTES)
                ):
                    complete = False
                    break
                merge.advance()
                scanned += event.end - event.offset
                if (start is None or event.timestamp >= start) and pattern.matches(event.message):
                    size += _cost(event)
                    found.append(
                        {
                            "logStreamName": name,
                            "timestamp": event.timestamp,
                            "message": event.message,
                            "ingestionTime": event.timestamp,
                            "eventId": _event_id(group, name, event.offset),
                        }
                    )
            answer: dict[str, Any] = {"events": found, "searchedLogStreams": []}
            if not complete:
                last = [streams[opened - 1][1], streams[opened - 1][0]] if opened else None
                key = {"c": last, "o": merge.positions()}
                answer["nextToken"] = self._paginator.issue("FilterLogEvents", caller.account, filters, key)
            return answer
        finally:
            merge.close()

    def describe_log_streams(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group(caller, params)
        prefix: str = params.get("logStreamNamePrefix") or ""
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix:
            raise InvalidParameter("logStreamNamePrefix cannot be given when orderBy is LastEventTime.")
        descending = bool(params.get("descending"))
        limit = _limit(params, MAX_DESCRIBE)
        self._require_group(caller, group)
        filters = [group, prefix, by_time, descending]
        after = self._resume("DescribeLogStreams", caller, filters, params.get("nextToken"))
        if by_time:
            # Last writes are not indexed, so ordering by them reads each stream file's modification time:
            # the cost of this order grows with the group (docs/api.md, CloudWatch Logs).
            keyed = sorted(
                ((self._last_write(caller, name), name), created)
                for name, created in self._store.log_streams(caller.account, group)
            )
            if descending:
                keyed.reverse()
            if after is not None:
                mark = (after[0], after[1])
                keyed = [k for k in keyed if (k[0] < mark if descending else k[0] > mark)]
            page = [(key[1], created) for key, created in keyed[: limit + 1]]
            keys: list[Any] = [list(key) for key, _ in keyed[: limit + 1]]
        else:
            page = self._store.log_streams(caller.account, group, prefix, after, limit + 1, descending)
            keys = [name for name, _ in page]
        answer: dict[str, Any] = {
            "logStreams": [
                self._stream_description(caller, group, name, created) for name, created in page[:limit]
            ]
        }
        if len(page) > limit:
            answer["nextToken"] = self._paginator.issue(
                "DescribeLogStreams", caller.account, filters, keys[limit - 1]
            )
        return answer

    def describe_log_groups(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        prefix: str = params.get("logGroupNamePrefix") or ""
        pattern: str = params.get("logGroupNamePattern") or ""
        if prefix and pattern:
            raise InvalidParameter("logGroupNamePrefix and logGroupNamePattern cannot both be given.")
        identifiers: list[str] | None = params.get("logGroupIdentifiers")
        if identifiers is not None and (prefix or pattern):
            raise InvalidParameter("logGroupIdentifiers cannot be given with a name prefix or pattern.")
        accounts: list[str] = params.get("accountIdentifiers") or []
        if any(account != caller.account for account in accounts):
            return {"logGroups": []}  # batchd has no linked accounts: another account's groups are not seen
        limit = _limit(params, MAX_DESCRIBE)
        filters = [prefix, pattern, identifiers]
        after = self._resume("DescribeLogGroups", caller, filters, params.get("nextToken"))
        groups = self._store.log_groups(caller.account, prefix, after)
        if pattern:
            groups = [g for g in groups if pattern.lower() in g[0].lower()]
        if identifiers is not None:
            wanted = {self._group_name(caller, i) for i in identifiers}
            groups = [g for g in groups if g[0] in wanted]
        answer: dict[str, Any] = {
            "logGroups": [
                {
                    "logGroupName": name,
                    "creationTime": created,
                    "metricFilterCount": 0,
                    "arn": _group_arn(caller.scope, name) + ":*",
                    "logGroupArn": _group_arn(caller.scope, name),
                    "logGroupClass": "STANDARD",
                }
                for name, created in groups[:limit]
            ]
        }
        if len(groups) > limit:
            answer["nextToken"] = self._paginator.issue(
                "DescribeLogGroups", caller.account, filters, groups[limit - 1][0]
            )
        return answer

    # --- reading --------------------------------------------------------------------------------------

    def _forward(
        self, file: LogFile, offset: int, limit: int, start: int | None, end: int | None
    ) -> tuple[list[Event], int, int]:
        """Events from `offset` on within [start, end); (events, first offset, offset after the last)."""
        events: list[Event] = []
        size = 0
        position = offset
        for event in file.forward(offset, budget=MAX_READ_BYTES):
            if end is not None and event.timestamp >= end:
                break
            if start is not None and event.timestamp < start:
                position = event.end
                continue
            if events and size + _cost(event) > MAX_RESPONSE_BYTES:
                break
            events.append(event)
            size += _cost(event)
            position = event.end
            if len(events) == limit:
                break
        return events, (events[0].offset if events else offset), position

    def _backward(
        self, file: LogFile, end: int, limit: int, start: int | None
    ) -> tuple[list[Event], int, int]:
        """The last events before `end`, from `start` on; (events, first offset, offset after the last)."""
        newest_first: list[Event] = []
        size = read = 0
        position = end
        full = False
        budget = CHUNK
        while position > 0 and read < MAX_READ_BYTES and not full:
            batch = file.backward(position, budget)
            if not batch:
                break
            # The next read is sized to the events still wanted, at the lines' size so far: a page
            # decodes little more than it returns.
            per_event = (position - batch[0].offset) // len(batch) + 1
            budget = max(4096, min(CHUNK, (limit - len(newest_first) - len(batch)) * per_event * 5 // 4))
            read += position - batch[0].offset
            position = batch[0].offset
            for event in reversed(batch):
                if (
                    (start is not None and event.timestamp < start)
                    or len(newest_first) == limit
                    or (newest_first and size + _cost(event) > MAX_RESPONSE_BYTES)
                ):
                    full = True
                    break
                newest_first.append(event)
                size += _cost(event)
        if not newest_first:
            return [], end, end
        newest_first.reverse()
        return newest_first, newest_first[0].offset, newest_first[-1].end

    def _resume(self, operation: str, caller: Caller, filters: Any, token: str | None) -> Any:
        try:
            return self._paginator.resume(operation, caller.account, filters, token)
        except ClientException as exc:  # the Logs API's name for a caller's mistake
            raise InvalidParameter(exc.message) from None

    # --- lookups --------------------------------------------------------------------------------------

    def _group_name(self, caller: Caller, identifier: str) -> str:
        """A log group named by name or ARN; an ARN of another account or region names nothing here."""
        if not identifier.startswith("arn:"):
            return identifier
        found = _GROUP_ARN.fullmatch(identifier)
        if found is None:
            raise InvalidParameter(f"logGroupIdentifier {identifier!r} is not a log group name or ARN.")
        region, account, name = found.groups()
        if region != caller.scope.region or account != caller.account:
            raise ResourceNotFound("The specified log group does not exist.")
        return name

    def _group(self, caller: Caller, params: dict[str, Any]) -> str:
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise InvalidParameter("Give logGroupName or logGroupIdentifier, not both.")
        if name is None and identifier is None:
            raise InvalidParameter("logGroupName or logGroupIdentifier is required.")
        return str(name) if name is not None else self._group_name(caller, str(identifier))

    def _require_group(self, caller: Caller, group: str) -> None:
        if not any(name == group for name, _ in self._store.log_groups(caller.account, group, limit=1)):
            raise ResourceNotFound("The specified log group does not exist.")

    def _path(self, caller: Caller, stream: str) -> Path:
        return log_path(self._logs_dir, caller.account, stream)

    def _open(self, caller: Caller, stream: str) -> LogFile:
        """The stream's file; an attempt that has written nothing yet reads as an empty stream."""
        return LogFile(self._path(caller, stream))

    def _last_write(self, caller: Caller, stream: str) -> int:
        try:
            return self._path(caller, stream).stat().st_mtime_ns // 1_000_000
        except OSError:
            return 0

    def _read_token(self, token: str, file: LogFile) -> tuple[str, int]:
        found = _TOKEN.fullmatch(token)
        if found is None or int(found.group(2)) > file.size:
            raise InvalidParameter("The specified nextToken is invalid.")
        direction, offset = found.group(1), int(found.group(2))
        # Offsets name line starts; another offset reads from the next line start.
        return direction, file.line_start(offset) if direction == "f" else offset

    def _stream_description(self, caller: Caller, group: str, name: str, created: int) -> dict[str, Any]:
        description: dict[str, Any] = {
            "logStreamName": name,
            "creationTime": created,
            "arn": f"{_group_arn(caller.scope, group)}:log-stream:{name}",
            "storedBytes": 0,  # AWS reports 0 for streams since 2019
        }
        with self._open(caller, name) as file:
            span = file.first_and_last()
        if span is not None:
            description["firstEventTimestamp"], description["lastEventTimestamp"] = span
            description["lastIngestionTime"] = span[1]
        return description

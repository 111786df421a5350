"""Reading attempt logs by byte position: what the Logs API pages through.

A log file is one JSON line per event (see files.py), appended in time order, so an event is named by the
byte offset of its line, and a page is read from an offset forward or backward. Nothing reads a whole
file: a page costs the same in a stream of a thousand lines or of ten million. Timestamps are assumed
non-decreasing within a file (each writer appends as lines arrive); a small disorder, as between stdout
and stderr of one container, only moves a time seek by those lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# One read: large enough for many events, small enough that a page never reads much past what it returns.
CHUNK = 64 * 1024
# Below this span a time seek reads lines in order instead of halving further.
SCAN_SPAN = 64 * 1024
# What one step of a time seek reads: about one line, not a chunk.
PROBE = 4096


@dataclass(frozen=True)
class Event:
    offset: int  # where the event's line starts: its identity in the stream
    end: int  # where the next line starts
    timestamp: int
    message: str
    # stdout or stderr: kept by batchd, which `batchd logs` shows; CloudWatch's events have no such field.
    origin: str = "stdout"


def _parse(line: bytes, offset: int) -> Event | None:
    try:
        record = json.loads(line)
        timestamp, message = int(record["timestamp"]), str(record["message"])
        return Event(offset, offset + len(line) + 1, timestamp, message, str(record.get("stream", "stdout")))
    except (ValueError, KeyError, TypeError):
        return None  # not a whole record (a writer cut short by a full disk): skipped


class LogFile:
    """One stream's file, opened for reading. `size` is taken at open: lines written later are read by
    the next request, never half of one by this."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] | None
        try:
            self._file = path.open("rb")
        except FileNotFoundError:  # an attempt that has written nothing yet: an empty stream
            self._file, self.size = None, 0
        else:
            self.size = os.fstat(self._file.fileno()).st_size

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, start: int, length: int) -> bytes:
        if self._file is None:
            return b""
        self._file.seek(start)
        return self._file.read(max(0, min(length, self.size - start)))

    def forward(self, offset: int, budget: int = CHUNK, chunk: int = CHUNK) -> Iterator[Event]:
        """Events from `offset` on, reading about `budget` bytes (always at least one whole line),
        `chunk` bytes at a time."""
        position, read = offset, 0
        while position < self.size and read < budget:
            data = self._read(position, chunk)
            cut = data.rfind(b"\n") + 1
            while cut == 0 and position + len(data) < self.size:  # one line longer than a chunk
                data += self._read(position + len(data), chunk)
                cut = data.rfind(b"\n") + 1
            if cut == 0:
                return  # an unfinished last line: its writer has not ended it yet
            for line in data[:cut].split(b"\n")[:-1]:
                event = _parse(line, position)
                position += len(line) + 1
                if event is not None:
                    yield event
            read += cut

    def backward(self, end: int, budget: int = CHUNK) -> list[Event]:
        """Whole events ending at or before `end`, the last ones first read, in file order; about
        `budget` bytes (at least one line when there is one before `end`)."""
        end = min(end, self.size)
        start = max(0, end - budget)
        data = self._read(start, end - start)

        # With `start` inside a line, a whole line needs two newlines: the cut line's, then its own.
        while start > 0 and data.find(b"\n", data.find(b"\n") + 1) < 0:
            grow = min(start, CHUNK)  # no whole line in what was read: read further back
            start -= grow
            data = self._read(start, grow) + data
        data = data[: data.rfind(b"\n") + 1]  # an unfinished last line is its writer's still
        if start > 0:
            skip = data.find(b"\n") + 1  # the first line began before `start`
            start, data = start + skip, data[skip:]
        events: list[Event] = []
        position = start
        for line in data.split(b"\n")[:-1]:
            event = _parse(line, position)
            position += len(line) + 1
            if event is not None:
                events.append(event)
        return events

    def seek_time(self, timestamp: int) -> int:
        """The offset of the first event at or after `timestamp` (the size when there is none)."""
        low, high = 0, self.size  # low: a line start before the answer; high: a line start at/after it
        while high - low > SCAN_SPAN:
            middle = (low + high) // 2
            found = next(self.forward(self.line_start(middle), budget=1, chunk=PROBE), None)
            if found is None or found.offset >= high:
                high = middle
            elif found.timestamp < timestamp:
                low = found.end
            else:
                high = found.offset
        position = low
        for event in self.forward(low, budget=high - low + CHUNK):
            if event.timestamp >= timestamp or event.offset >= high:
                return event.offset
            position = event.end
        return position  # every whole event is earlier: the end of the last one

    def line_start(self, offset: int) -> int:
        """The first line start at or after `offset`."""
        if offset == 0:
            return 0
        position = offset - 1
        while position < self.size:
            data = self._read(position, PROBE)
            newline = data.find(b"\n")
            if newline >= 0:
                return position + newline + 1
            position += len(data)
        return self.size

    def first_and_last(self) -> tuple[int, int] | None:
        """The first and last event's timestamps, or None for a stream with no events yet."""
        first = next(self.forward(0, budget=1), None)
        if first is None:
            return None
        last = self.backward(self.size, budget=4096)
        return first.timestamp, (last[-1].timestamp if last else first.timestamp)


def read_all(path: Path) -> list[Event]:
    """Every whole event of a file: for a reader that wants all of a small log, as tests do."""
    with LogFile(path) as file:
        return list(file.forward(0, budget=file.size))

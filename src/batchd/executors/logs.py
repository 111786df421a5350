"""Attempt logs: one file per logStreamName, one JSON line per output line, with its timestamp.

The format is CloudWatch's event shape ({"timestamp", "message"}) plus the stream it came from, so a
reader can interleave stdout and stderr in the order they were written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("batchd.logs")


def log_path(logs_dir: Path, account: str, log_stream_name: str) -> Path:
    return logs_dir / account / f"{log_stream_name}.log"


def remove_logs(logs_dir: Path, streams: Iterable[tuple[str, str]]) -> None:
    """Deletes the log files of (account, logStreamName) pairs, and the directories they leave empty
    (a stream name is JOBDEF/default/TASKID, so a definition's directory goes with its last log)."""
    for account, stream in streams:
        path = log_path(logs_dir, account, stream)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # one file that cannot go must not keep the others
            log.warning("cannot remove the log %s: %s", path, exc)
            continue
        # Up to the account's directory, never above it.
        for parent in path.parents:
            if parent == logs_dir / account:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (other attempts' logs), or already gone
                break


class LogWriter:
    """Appends lines; flushes each one so `batchd logs --follow` sees output as it happens."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        record = {"timestamp": timestamp_ms, "stream": stream, "message": message.rstrip("\n")}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete lines from `offset` on, and the offset to continue from."""
    if not path.exists():
        return [], offset
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read()
    end = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return events, offset + end


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    events, _ = read_events(path)
    yield from events

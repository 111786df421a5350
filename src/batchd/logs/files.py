"""Attempt logs: one file per logStreamName, one JSON line per output line, with its timestamp.

The format is CloudWatch's event shape ({"timestamp", "message"}) plus the stream it came from, so a
reader can interleave stdout and stderr in the order they were written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
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


# Lines a closed writer could not write (the disk was full), by file: written by `flush_deferred_logs`.
_deferred: dict[Path, list[str]] = {}
_deferred_lock = threading.Lock()
# A job printing while the disk stays full must not fill memory instead: past this, lines are dropped
# and counted.
MAX_PENDING_LINES = 100_000


class LogWriter:
    """Appends lines; flushes each one so `batchd logs --follow` sees output as it happens.

    A full disk loses nothing up to MAX_PENDING_LINES: lines that could not be written are kept and
    written, in order, once the disk takes them again, even after the writer is closed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None
        self._size = 0  # bytes of whole lines in the file: where a failed write is cut back to
        self._pending: list[str] = []
        self._dropped = 0
        self._open()

    def _open(self) -> bool:
        if self._file is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._file = _open_private(self._path, "ab")
                self._size = self._file.seek(0, os.SEEK_END)
            except OSError as exc:
                log.warning("cannot open the log %s: %s", self._path, exc)
                return False
        return True

    def write(self, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        if len(self._pending) >= MAX_PENDING_LINES:
            self._dropped += 1
            return
        record = {"timestamp": timestamp_ms, "stream": stream, "message": message.rstrip("\n")}
        self._pending.append(json.dumps(record, ensure_ascii=False) + "\n")
        self._flush()

    def _flush(self) -> bool:
        if not self._pending or not self._open():
            return not self._pending
        assert self._file is not None
        data = "".join(self._pending).encode("utf-8")
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            log.warning("cannot write the log %s (%s); keeping %d lines", self._path, exc, len(self._pending))
            # Part of it may have reached the file: cut back to the last whole line written, so the
            # lines written again later are neither doubled nor glued to half of one.
            with contextlib.suppress(OSError, ValueError):
                self._file.close()
            self._file = None
            with contextlib.suppress(OSError):
                os.truncate(self._path, self._size)
            return False
        self._size += len(data)
        self._pending.clear()
        return True

    def close(self) -> None:
        if self._dropped:
            lost = f"batchd: {self._dropped} output lines lost: the disk was full"
            self._pending.append(json.dumps({"timestamp": time.time_ns() // 1_000_000, "stream": "stderr",
                                             "message": lost}) + "\n")  # fmt: skip
        if not self._flush():
            with _deferred_lock:
                _deferred.setdefault(self._path, []).extend(self._pending)
            self._pending = []
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def _open_private(path: Path, mode: str) -> IO[Any]:
    """Opened for appending, made 0600 when new whatever the umask: job output is the server's to serve."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")
    except BaseException:
        os.close(fd)
        raise


def has_deferred_logs() -> bool:
    return bool(_deferred)


def flush_deferred_logs() -> None:
    """Writes the lines closed writers kept when the disk was full; what still fails stays kept."""
    if not _deferred:
        return
    with _deferred_lock:
        waiting = list(_deferred.items())
        _deferred.clear()
    for path, lines in waiting:
        try:
            with _open_private(path, "a") as file:
                file.write("".join(lines))
        except OSError:
            with _deferred_lock:
                _deferred[path] = lines + _deferred.get(path, [])
            return

"""WAL checkpoints on a thread of their own, so the event loop never waits for one.

A checkpoint copies committed pages from the write-ahead log into the database file and syncs it to disk.
Left to SQLite, it runs inside whichever COMMIT crosses the WAL size limit: on the event loop, with an
fsync, every few dozen jobs. Here a second connection runs a PASSIVE checkpoint (it never blocks the
writer) every interval instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("batchd.store")

INTERVAL_SECONDS = 1.0


class Checkpointer(threading.Thread):
    def __init__(self, path: Path, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="batchd-checkpoints", daemon=True)
        self._path = path
        self._interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # retried at the next interval
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

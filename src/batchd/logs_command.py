"""`batchd logs JOB_ID`: a job's output from the server's data directory, optionally followed live."""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from batchd.config import Settings
from batchd.logs.files import log_path
from batchd.logs.reader import Event, LogFile
from batchd.store.records import JobRecord
from batchd.store.sqlite import SqliteStore

POLL_SECONDS = 0.2


def _streams(job: JobRecord) -> list[str]:
    """Every attempt's stream in order, then the one of the attempt running now."""
    names = [
        a["container"]["logStreamName"]
        for a in job.doc.get("attempts", [])
        if "logStreamName" in a.get("container", {})
    ]
    current = job.doc.get("container", {}).get("logStreamName")
    if current and current not in names:
        names.append(current)
    return names


def _format(event: Event, timestamps: bool) -> str:
    if not timestamps:
        return event.message
    when = datetime.fromtimestamp(event.timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    return f"{when} {event.origin}: {event.message}"


def print_logs(data_dir: Path, job_id: str, follow: bool, attempt: int | None, timestamps: bool) -> int:
    settings = Settings(data_dir=data_dir)
    if not settings.database_path.exists():
        print(f"batchd: no batchd data in {data_dir} (use --data-dir)", file=sys.stderr)
        return 2
    try:
        store = SqliteStore(settings.database_path, owner=False)
    except Exception as exc:
        print(f"batchd: {exc}", file=sys.stderr)
        return 2
    offsets: dict[str, int] = {}
    try:
        while True:
            try:
                job = store.get_job(job_id)
            except sqlite3.Error as exc:
                print(f"batchd: cannot read the database: {exc}", file=sys.stderr)
                return 2
            if job is None:
                print(f"batchd: job {job_id} does not exist", file=sys.stderr)
                return 1
            streams = _streams(job)
            if attempt is not None:
                streams = streams[attempt - 1 : attempt]
            for stream in streams:
                # The reader the Logs API pages with: whole lines only, from where the last pass ended.
                with LogFile(log_path(settings.logs_dir, job.account, stream)) as file:
                    for event in file.forward(offsets.get(stream, 0), budget=file.size):
                        print(_format(event, timestamps), flush=True)
                        offsets[stream] = event.end
            if not follow or job.status.is_terminal:
                return 0
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return 130
    finally:
        store.close()

"""`batchd serve` refuses a damaged data directory in one line, and keeps what it creates private."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from batchd.store.sqlite import SqliteStore
from tests.integration.jobtools import create_ce, create_queue, submit
from tests.support import BATCHD, Server, free_port, register, wait_status


def serve_fails(data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Runs `batchd serve`, which must exit 2 at once; returns its single stderr line."""
    port = [] if env and "BATCHD_PORT" in env else ["--port", str(free_port())]
    done = subprocess.run(
        [*BATCHD, "serve", *port, "--data-dir", str(data_dir), *flags],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def a_database(path: Path, jobs: int = 2000) -> None:
    """A valid store with enough jobs that the jobs table spans many pages."""
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO jobs(job_id, account, queue_arn, name, jd_arn, status, created_at, doc) "
            "VALUES (?, 'a', 'q', 'n', 'jd', 'SUCCEEDED', 0, ?)",
            ((f"job-{i}", "{" + f'"pad": "{"x" * 200}"' + "}") for i in range(jobs)),
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_random_bytes_are_not_a_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "batchd.sqlite3").write_bytes(os.urandom(64 * 1024))
    line = serve_fails(data)
    assert "corrupt" in line and "batchd.sqlite3" in line
    assert "restore it from a backup" in line


def test_a_corrupt_jobs_page_is_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "batchd.sqlite3"
    a_database(path)
    db = sqlite3.connect(path)
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    root = int(db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0])
    db.close()
    assert pages > 20 and root > 1
    with path.open("r+b") as file:
        # The table's root page and a page from the middle of the file.
        for page in (root, pages // 2):
            file.seek((page - 1) * page_size)
            file.write(os.urandom(page_size))
    line = serve_fails(data)
    assert "corrupt" in line and "move it aside to start empty" in line


def test_a_directory_in_place_of_the_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "batchd.sqlite3").mkdir(parents=True)
    line = serve_fails(data)
    assert "is a directory" in line


def test_a_wrong_header(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "batchd.sqlite3"
    a_database(path, jobs=10)
    with path.open("r+b") as file:
        file.write(b"SQLite format 2\x00")
    line = serve_fails(data)
    assert "header" in line and "corrupt" in line


def test_a_missing_database_beside_logs_is_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("a", "b"):
        log = data / "logs" / "123456789012" / name
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("{}\n")
    line = serve_fails(data)
    assert "missing" in line and "2 log files" in line and "aside" in line
    assert not (data / "batchd.sqlite3").exists()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--retention-days", "0"], "--retention-days"),
        (["--retention-days", "nan"], "--retention-days"),
        (["--retention-days", "inf"], "--retention-days"),
        (["--port", "70000"], "--port"),
        (["--stop-grace-seconds", "-1"], "--stop-grace-seconds"),
        (["--min-timeout-seconds", "0"], "--min-timeout-seconds"),
        (["--region", "Mars"], "--region"),
        (["--log-level", "chatty"], "--log-level"),
        (["--credentials", "/no/such/credentials"], "credentials"),
    ],
)
def test_bad_flags_give_one_line(tmp_path: Path, flags: list[str], words: str) -> None:
    assert words in serve_fails(tmp_path / "data", *flags)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "abc"), ("RETENTION_DAYS", "x"), ("MIN_TIMEOUT_SECONDS", "1.5"), ("STOP_GRACE_SECONDS", "")],
)
def test_bad_environment_values_give_one_line(tmp_path: Path, name: str, value: str) -> None:
    line = serve_fails(tmp_path / "data", env={f"BATCHD_{name}": value})
    assert name.lower().replace("_", "-") in line


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_batchd_creates_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    with Server(data, ["--executor", "local"]) as srv:
        client = srv.client()
        create_ce(client, "ce")
        create_queue(client, "q", ["ce"])
        register(client, "hello", ["sh", "-c", "echo hello; touch made-here"])
        done = wait_status(client, submit(client, "q", "hello"))
        assert done["status"] == "SUCCEEDED", done
        assert mode(data) == 0o700
        for name in ("batchd.sqlite3", "batchd.sqlite3-wal", "batchd.sqlite3-shm"):
            assert mode(data / name) == 0o600, name
        logs = [p for p in (data / "logs").rglob("*") if p.is_file()]
        assert logs
        for path in (data / "logs").rglob("*"):
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def job_reason(srv: Server, command: list[str]) -> dict[str, Any]:
    client = srv.client()
    name = f"j{abs(hash(tuple(command))) % 10**6}"
    register(client, name, command)
    return wait_status(client, submit(client, "q", name))


def test_start_failures_do_not_show_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Server(data, ["--executor", "local"]) as srv:
        client = srv.client()
        create_ce(client, "ce")
        create_queue(client, "q", ["ce"])
        missing = job_reason(srv, ["no-such-command-here", "x"])
        assert missing["status"] == "FAILED"
        reason = missing["container"]["reason"]
        assert "no-such-command-here" in reason and str(data) not in reason, reason
        assert str(tmp_path) not in str(missing)

        # The attempts' working directories cannot be made: a file stands where they go.
        shutil.rmtree(data / "work", ignore_errors=True)
        (data / "work").write_text("not a directory")
        bad_cwd = job_reason(srv, ["true"])
        assert bad_cwd["status"] == "FAILED"
        reason = bad_cwd["container"]["reason"]
        assert "working directory" in reason and str(data) not in reason, reason
        assert str(tmp_path) not in str(bad_cwd)

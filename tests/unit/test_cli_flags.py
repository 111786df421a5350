"""`batchd serve`'s flag checks, the database's startup check, and path-free start failures."""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

import pytest

from batchd import cli
from batchd.executors.agent import launch_reason
from batchd.store import integrity
from batchd.store.errors import StoreError
from batchd.store.sqlite import SqliteStore


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli._serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_good_flags_are_converted() -> None:
    argv = ["--port", "8080", "--retention-days", "0.5", "--stop-grace-seconds", "0"]
    argv += ["--min-timeout-seconds", "1", "--region", "eu-central-1", "--log-level", "DEBUG"]
    args = parse(*argv)
    assert (args.port, args.retention_days, args.stop_grace_seconds) == (8080, 0.5, 0.0)
    assert (args.min_timeout_seconds, args.region, args.log_level) == (1, "eu-central-1", "debug")


def test_defaults_are_converted() -> None:
    args = parse()
    assert isinstance(args.port, int) and isinstance(args.retention_days, float)
    assert isinstance(args.min_timeout_seconds, int) and args.region == "us-east-1"


@pytest.mark.parametrize(
    "argv",
    [
        ("--port", "0"),
        ("--port", "65536"),
        ("--port", "http"),
        ("--retention-days", "-1"),
        ("--retention-days", "NaN"),
        ("--retention-days", "Infinity"),
        ("--stop-grace-seconds", "-0.1"),
        ("--stop-grace-seconds", "inf"),
        ("--min-timeout-seconds", "0"),
        ("--min-timeout-seconds", "2.5"),
        ("--region", "us_east_1"),
        ("--region", "US-EAST-1"),
        ("--region", "useast1"),
        ("--log-level", "trace"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and argv[0] in err[0], err


def test_a_bad_environment_value_is_reported_like_a_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHD_PORT", "abc")
    with pytest.raises(SystemExit):
        parse()
    assert "--port" in capsys.readouterr().err
    # A flag given on the command line wins, and the bad variable is not looked at.
    assert parse("--port", "9000").port == 9000


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"])
def test_regions(region: str) -> None:
    assert parse("--region", region).region == region


def test_a_wide_data_dir_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    cli.prepare_data_dir(data)
    assert data.stat().st_mode & 0o777 == 0o700


def test_a_large_database_gets_the_cheap_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "batchd.sqlite3"
    SqliteStore(path).close()
    monkeypatch.setattr(integrity, "QUICK_CHECK_LIMIT", 0)
    integrity.check_database(path)
    size = path.stat().st_size
    with path.open("r+b") as file:  # a header that counts more pages than the file holds
        file.seek(28)
        file.write((size // 512 + 1000).to_bytes(4, "big"))
    with pytest.raises(integrity.CorruptDatabase, match="pages"):
        integrity.check_database(path)


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "batchd.sqlite3"
    path.touch()
    integrity.check_database(path)
    SqliteStore(path).close()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)


def test_the_store_refuses_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "batchd.sqlite3"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="corrupt"):
        SqliteStore(path)


def test_logs_without_a_database(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    integrity.check_logs_without_database(tmp_path / "batchd.sqlite3", tmp_path / "logs")
    (tmp_path / "logs" / "x").write_text("{}\n")
    with pytest.raises(StoreError, match="1 log files"):
        integrity.check_logs_without_database(tmp_path / "batchd.sqlite3", tmp_path / "logs")


def test_launch_reasons_name_no_server_path() -> None:
    request = {"argv": ["nope", "x"], "cwd": "/srv/data/work/JOB/1", "log": "/srv/data/logs/a/JOB/1"}
    missing = FileNotFoundError(2, "No such file or directory", "nope")
    assert launch_reason(missing, request) == "nope: No such file or directory"
    cwd = NotADirectoryError(20, "Not a directory", "/srv/data/work/JOB/1")
    assert launch_reason(cwd, request) == "the job's working directory cannot be used: Not a directory"
    other = RuntimeError("something about /srv/data/work/JOB/1/x")
    assert "/srv/data" not in launch_reason(other, request)

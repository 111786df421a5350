"""A data directory that fills up and empties again while jobs run: nothing stranded, nothing
mis-recorded, no output lost, and no restart needed."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import Server, describe, make_environment, output, register, uniq, wait_for, wait_status


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of our own (root only), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root is needed): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> None:
    """Writes `path` until the file system has no byte left."""
    with path.open("wb", buffering=0) as file:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    file.write(chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break


def test_jobs_settle_with_their_true_outcome_once_the_disk_has_room(small_disk: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"  # outside the full disk
    flags = ["--executor", "local", "--stop-grace-seconds", "1"]
    server = Server(small_disk / "data", flags)
    server.log_file = tmp_path / "server.log"  # off the full disk, so its warnings are kept
    with server:
        client = server.client()
        queue = make_environment(client, uniq("ce"), max_vcpus=1, queue=uniq("q"))
        waits = register(
            client, uniq("jd"), ["sh", "-c", f"while [ ! -e {release} ]; do sleep 0.05; done; echo done"]
        )
        first = client.submit_job(jobName="first", jobQueue=queue, jobDefinition=waits)["jobId"]
        wait_status(client, first, ["RUNNING"], timeout=60)
        second = client.submit_job(
            jobName="second", jobQueue=queue, jobDefinition=register(client, uniq("jd"), ["echo", "second"])
        )["jobId"]
        wait_status(client, second, ["RUNNABLE"], timeout=60)

        parked_env = uniq("ce")
        parked = make_environment(client, parked_env, queue=uniq("q"))
        client.update_compute_environment(computeEnvironment=parked_env, state="DISABLED")
        quick = register(client, uniq("jd"), ["true"])

        # A reader's open snapshot keeps the WAL from being reused, so new writes need new space.
        reader = sqlite3.connect(str(server.data_dir / "batchd.sqlite3"), isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM jobs").fetchone()
        filler = small_disk / "filler"
        _fill(filler)
        try:
            # The WAL may still have room from before: submits (to a queue that never runs) use it up,
            # until the store refuses one. That refusal is a clean 500 that changed nothing.
            for attempt in range(20_000):
                try:
                    client.submit_job(jobName=f"p{attempt}", jobQueue=parked, jobDefinition=quick)
                except ClientError as error:
                    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 500, error.response
                    assert error.response["Error"]["Code"] == "ServerException"
                    break
            else:
                raise AssertionError("the store took 20,000 writes on a full disk")
            release.touch()
            wait_for(
                lambda: f"cannot record the end of job {first}" in server.log_file.read_text(),
                timeout=120,
                what="the server to meet the full disk when the first job ends",
            )
            # Reads still work; the job is not yet recorded as ended, and nothing else was decided.
            assert describe(client, first)["status"] == "RUNNING"
            assert describe(client, second)["status"] == "RUNNABLE"
        finally:
            reader.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(filler)

        ended = wait_status(client, first, timeout=120)
        assert ended["status"] == "SUCCEEDED", ended
        assert ended["container"]["exitCode"] == 0
        assert len(ended["attempts"]) == 1
        wait_for(lambda: output(server, first) == ["done"], timeout=60, what="the output kept while full")
        # The job held back behind it starts once the first one's end is written.
        assert wait_status(client, second, timeout=120)["status"] == "SUCCEEDED"
        assert output(server, second) == ["second"]

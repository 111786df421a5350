"""Job output: kept per attempt with timestamps, shown by `batchd logs`, followed live (docs/api.md,
CloudWatch Logs; docs/jobs.md, Logs)."""

from __future__ import annotations

import contextlib
import re
import selectors
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobtools import create_ce, create_queue, gate_wait, open_gate, submit
from tests.support import BATCHD, Server, client_env, free_port, logs, output, register, wait_status

STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\S*) (.*)")


@pytest.fixture
def queue(client: Any) -> str:
    create_ce(client, "ce", max_vcpus=4)
    return create_queue(client, "q", ["ce"])


def read_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """One line of the process's stdout, or fail after `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout}s")
    return process.stdout.readline()


@contextlib.contextmanager
def following(server: Server, job_id: str, follow_flag: str) -> Iterator[subprocess.Popen[str]]:
    """`batchd logs JOB_ID FOLLOW_FLAG --no-timestamps` running; killed on the way out if still running."""
    follower = subprocess.Popen(
        [*BATCHD, "logs", job_id, "--endpoint-url", server.endpoint, follow_flag, "--no-timestamps"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(),
    )
    try:
        yield follower
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def test_stdout_and_stderr_are_kept_with_timestamps(server: Server, client: Any, queue: str) -> None:
    register(client, "talk", ["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo 'with  spaces '"])
    job = submit(client, queue, "talk")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    lines = logs(server, job).stdout.splitlines()
    parsed = [STAMPED.fullmatch(line) for line in lines]
    assert all(parsed), lines
    # Both streams, each in its order (the agent reads two pipes, so not interleaved exactly); which
    # stream a line came from is kept in the log file (tests/unit/test_agent_output.py) but CloudWatch's
    # events, which `batchd logs` reads, do not carry it.
    events = [m.group(2) for m in parsed if m]
    assert sorted(events) == sorted(["out1", "err1", "out2", "with  spaces "])
    assert [message for message in events if message != "err1"] == ["out1", "out2", "with  spaces "]
    stamps = [m.group(1) for m in parsed if m]
    assert stamps == sorted(stamps)
    assert sorted(output(server, job)) == sorted(["out1", "err1", "out2", "with  spaces "])


def test_log_stream_name(server: Server, client: Any, queue: str) -> None:
    register(client, "named-def", ["echo", "hi"])
    job = submit(client, queue, "named-def")
    done = wait_status(client, job)
    stream = done["container"]["logStreamName"]
    assert re.fullmatch(r"named-def/default/[0-9a-f-]{36}", stream), stream
    assert done["attempts"][0]["container"]["logStreamName"] == stream
    assert output(server, job) == ["hi"]


def test_logs_of_every_attempt(server: Server, client: Any, queue: str) -> None:
    script = 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]'
    register(client, "twice", ["sh", "-c", script], attempts=2)
    job = submit(client, queue, "twice")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert output(server, job) == ["attempt 1", "attempt 2"]
    assert output(server, job, "--attempt", "1") == ["attempt 1"]
    assert output(server, job, "--attempt", "2") == ["attempt 2"]


def test_logs_of_a_job_without_output(server: Server, client: Any, queue: str) -> None:
    register(client, "quiet", ["true"])
    job = submit(client, queue, "quiet")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert logs(server, job).stdout == ""


def test_long_and_unterminated_lines(server: Server, client: Any, queue: str) -> None:
    script = (
        "head -c 200000 /dev/zero | tr '\\0' x; echo; yes ✓ | head -n 30000 | tr -d '\\n'; echo; printf tail"
    )
    register(client, "long", ["sh", "-c", script])
    job = submit(client, queue, "long")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    text = "".join(output(server, job))
    # Over-long lines may be cut into several events, but nothing is lost or garbled.
    assert text == "x" * 200000 + "✓" * 30000 + "tail"


def test_logs_of_an_unknown_job(server: Server, client: Any) -> None:
    result = logs(server, "00000000-0000-0000-0000-000000000000", check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_logs_without_a_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BATCHD, "logs", "some-job", "--endpoint-url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=client_env(),
    )
    assert result.returncode == 2
    assert "cannot reach batchd" in result.stderr and "Traceback" not in result.stderr


def test_logs_signed_for_another_account_see_no_job(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[one]\naws_access_key_id = AKIALOGSONE000000001\naws_secret_access_key = one-secret\n"
        "aws_account_id = 111111111111\nbatchd_trusted = true\n\n"
        "[two]\naws_access_key_id = AKIALOGSTWO000000002\naws_secret_access_key = two-secret\n"
        "aws_account_id = 222222222222\n"
    )
    with Server(tmp_path / "data", ["--executor", "local", "--credentials", str(credentials)]) as srv:
        one = srv.client("AKIALOGSONE000000001", "one-secret")
        create_ce(one, "ce", max_vcpus=1)
        create_queue(one, "q", ["ce"])
        register(one, "mine", ["echo", "private"])
        job = submit(one, "q", "mine")
        assert wait_status(one, job)["status"] == "SUCCEEDED"
        assert output(srv, job, credentials=("AKIALOGSONE000000001", "one-secret")) == ["private"]
        other = logs(srv, job, check=False, credentials=("AKIALOGSTWO000000002", "two-secret"))
        assert other.returncode == 1 and "does not exist" in other.stderr and other.stdout == ""
        unsigned = logs(srv, job, check=False)
        assert unsigned.returncode == 1 and "private" not in unsigned.stdout


def test_follow_streams_a_running_job(server: Server, client: Any, queue: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    register(client, "slow", ["sh", "-c", f"echo first; {gate_wait(gate)}; echo second"])
    job = submit(client, queue, "slow")
    wait_status(client, job, {"RUNNING"})
    with following(server, job, "--follow") as follower:
        assert read_line(follower) == "first\n"
        assert follower.poll() is None
        assert not gate.exists()
        open_gate(gate)
        assert read_line(follower) == "second\n"
        assert follower.wait(timeout=30) == 0
        assert follower.stdout is not None and follower.stdout.read() == ""
    assert wait_status(client, job)["status"] == "SUCCEEDED"


def test_follow_of_a_queued_job_waits_for_it(server: Server, client: Any, queue: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    register(client, "after", ["echo", "finally"])
    first = submit(client, queue, "hold", "first")
    second = submit(client, queue, "after", "second", dependsOn=[{"jobId": first}])
    wait_status(client, second, {"PENDING"})
    with following(server, second, "-f") as follower:
        start = time.monotonic()
        open_gate(gate)
        assert read_line(follower) == "finally\n"
        assert follower.wait(timeout=30) == 0
        assert time.monotonic() - start < 30


def test_follow_of_an_ended_job_prints_and_exits(server: Server, client: Any, queue: str) -> None:
    register(client, "done", ["echo", "over"])
    job = submit(client, queue, "done")
    wait_status(client, job)
    result = logs(server, job, "--follow", "--no-timestamps")
    assert result.stdout.splitlines() == ["over"]

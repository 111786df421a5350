"""Retries, timeouts and how an attempt's end becomes the job's status (docs/api.md, Job statuses and
statusReason: Retries and timeouts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobtools import create_ce, create_queue, kill_if_alive, read_pid, submit, wait_gone
from tests.support import register, wait_status

EXITED = "Essential container in task exited"


@pytest.fixture
def queue(client: Any) -> str:
    create_ce(client, "ce", max_vcpus=4)
    return create_queue(client, "q", ["ce"])


def define(client: Any, name: str, command: list[str], **members: Any) -> None:
    """A job definition with top-level members (retryStrategy, timeout) besides the container."""
    client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": command},
        **members,
    )


def fails_until(counter: Path, succeed_at: int, attempts_log: Path) -> list[str]:
    """A command that counts its runs in `counter`, exits 1 before run `succeed_at`, then 0."""
    script = (
        f'echo "$AWS_BATCH_JOB_ATTEMPT" >> {attempts_log}; '
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}; "
        f'echo "run $n"; [ $n -ge {succeed_at} ]'
    )
    return ["sh", "-c", script]


# --- retries --------------------------------------------------------------------------------------


def test_retried_until_success(client: Any, queue: str, tmp_path: Path) -> None:
    counter, seen = tmp_path / "counter", tmp_path / "attempts"
    define(client, "flaky", fails_until(counter, 3, seen), retryStrategy={"attempts": 3})
    job = submit(client, queue, "flaky")
    done = wait_status(client, job)
    assert done["status"] == "SUCCEEDED"
    assert done["statusReason"] == EXITED
    assert done["container"]["exitCode"] == 0
    assert done["retryStrategy"]["attempts"] == 3
    attempts = done["attempts"]
    assert [a["container"]["exitCode"] for a in attempts] == [1, 1, 0]
    streams = [a["container"]["logStreamName"] for a in attempts]
    assert len(set(streams)) == 3
    for stream in streams:
        assert re.fullmatch(r"flaky/default/[0-9a-f-]{36}", stream)
    assert done["container"]["logStreamName"] == streams[-1]
    for attempt in attempts:
        assert attempt["startedAt"] <= attempt["stoppedAt"]
        assert attempt["statusReason"] == EXITED
    for earlier, later in zip(attempts, attempts[1:], strict=False):
        assert earlier["stoppedAt"] <= later["startedAt"]
    assert done["startedAt"] == attempts[-1]["startedAt"]
    assert done["stoppedAt"] >= attempts[-1]["stoppedAt"]
    assert seen.read_text().split() == ["1", "2", "3"]


def test_attempts_run_out(client: Any, queue: str, tmp_path: Path) -> None:
    counter, seen = tmp_path / "counter", tmp_path / "attempts"
    register(client, "flaky", fails_until(counter, 5, seen))
    job = submit(client, queue, "flaky", retryStrategy={"attempts": 2})
    done = wait_status(client, job)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == EXITED
    assert [a["container"]["exitCode"] for a in done["attempts"]] == [1, 1]
    assert seen.read_text().split() == ["1", "2"]


def test_no_retry_strategy_means_one_attempt(client: Any, queue: str, tmp_path: Path) -> None:
    counter, seen = tmp_path / "counter", tmp_path / "attempts"
    register(client, "flaky", fails_until(counter, 2, seen))
    done = wait_status(client, submit(client, queue, "flaky"))
    assert done["status"] == "FAILED"
    assert len(done["attempts"]) == 1
    assert seen.read_text().split() == ["1"]


def test_evaluate_on_exit_exit_stops_retries(client: Any, queue: str) -> None:
    strategy = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]}
    define(client, "three", ["sh", "-c", "exit 3"], retryStrategy=strategy)
    done = wait_status(client, submit(client, queue, "three"))
    assert done["status"] == "FAILED"
    assert len(done["attempts"]) == 1
    assert done["container"]["exitCode"] == 3


def test_evaluate_on_exit_first_match_decides(client: Any, queue: str, tmp_path: Path) -> None:
    counter, seen = tmp_path / "counter", tmp_path / "attempts"
    # Exits 1 (retry), then 1 again (retry), then succeeds; rule 2 would EXIT on anything else.
    strategy = {
        "attempts": 5,
        "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}, {"onExitCode": "*", "action": "EXIT"}],
    }
    register(client, "flaky", fails_until(counter, 3, seen))
    done = wait_status(client, submit(client, queue, "flaky", retryStrategy=strategy))
    assert done["status"] == "SUCCEEDED"
    assert len(done["attempts"]) == 3
    register(client, "other", ["sh", "-c", "exit 2"])
    other = wait_status(client, submit(client, queue, "other", retryStrategy=strategy))
    assert other["status"] == "FAILED"
    assert len(other["attempts"]) == 1


def test_evaluate_on_exit_without_a_match_retries(client: Any, queue: str) -> None:
    strategy = {"attempts": 2, "evaluateOnExit": [{"onExitCode": "9*", "action": "EXIT"}]}
    register(client, "one", ["sh", "-c", "exit 1"])
    done = wait_status(client, submit(client, queue, "one", retryStrategy=strategy))
    assert done["status"] == "FAILED"
    assert len(done["attempts"]) == 2


def test_evaluate_on_status_reason(client: Any, queue: str) -> None:
    strategy = {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Essential*", "action": "EXIT"}]}
    register(client, "one", ["sh", "-c", "exit 1"])
    done = wait_status(client, submit(client, queue, "one", retryStrategy=strategy))
    assert done["status"] == "FAILED"
    assert len(done["attempts"]) == 1


def test_submit_retry_strategy_overrides_the_definition(client: Any, queue: str, tmp_path: Path) -> None:
    counter, seen = tmp_path / "counter", tmp_path / "attempts"
    define(client, "flaky", fails_until(counter, 2, seen), retryStrategy={"attempts": 1})
    done = wait_status(client, submit(client, queue, "flaky", retryStrategy={"attempts": 2}))
    assert done["status"] == "SUCCEEDED"
    assert len(done["attempts"]) == 2


# --- timeouts ---------------------------------------------------------------------------------------


def test_timeout_fails_the_attempt_without_retry(client: Any, queue: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    define(
        client,
        "slow",
        ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"],
        retryStrategy={"attempts": 3},
        timeout={"attemptDurationSeconds": 1},
    )
    job = submit(client, queue, "slow")
    pid = read_pid(pid_file)
    try:
        done = wait_status(client, job, timeout=20)
        assert done["status"] == "FAILED"
        assert "timeout" in done["statusReason"].lower()
        assert len(done["attempts"]) == 1
        assert done["timeout"] == {"attemptDurationSeconds": 1}
        assert 1000 <= done["stoppedAt"] - done["startedAt"] < 15_000
        wait_gone(pid)
    finally:
        kill_if_alive(pid)


def test_submit_timeout_applies(client: Any, queue: str) -> None:
    register(client, "slow", ["sleep", "30"])
    done = wait_status(
        client, submit(client, queue, "slow", timeout={"attemptDurationSeconds": 1}), timeout=20
    )
    assert done["status"] == "FAILED"
    assert "timeout" in done["statusReason"].lower()


def test_a_job_within_its_timeout_succeeds(client: Any, queue: str) -> None:
    define(client, "quick", ["true"], timeout={"attemptDurationSeconds": 30})
    assert wait_status(client, submit(client, queue, "quick"))["status"] == "SUCCEEDED"


# --- exit codes and launch failures -----------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [(0, "SUCCEEDED"), (1, "FAILED"), (42, "FAILED")])
def test_exit_codes(client: Any, queue: str, code: int, status: str) -> None:
    register(client, "exits", ["sh", "-c", f"exit {code}"])
    done = wait_status(client, submit(client, queue, "exits"))
    assert done["status"] == status
    assert done["statusReason"] == EXITED
    assert done["container"]["exitCode"] == code
    assert done["attempts"][0]["container"]["exitCode"] == code
    assert "reason" not in done["container"]


def test_killed_by_a_signal(client: Any, queue: str) -> None:
    register(client, "suicide", ["sh", "-c", "kill -9 $$"])
    done = wait_status(client, submit(client, queue, "suicide"))
    assert done["status"] == "FAILED"
    assert done["container"]["exitCode"] == 137


def test_a_command_that_does_not_exist(client: Any, queue: str) -> None:
    register(client, "missing", ["/no/such/program", "arg"])
    done = wait_status(client, submit(client, queue, "missing"))
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Task failed to start"
    assert done["container"]["reason"].startswith("CannotStartContainerError")
    assert "exitCode" not in done["container"]
    assert "startedAt" not in done
    assert len(done["attempts"]) == 1
    assert done["attempts"][0]["statusReason"] == "Task failed to start"


def test_a_launch_failure_can_be_retried(client: Any, queue: str) -> None:
    define(client, "missing", ["/no/such/program"], retryStrategy={"attempts": 2})
    done = wait_status(client, submit(client, queue, "missing"))
    assert done["status"] == "FAILED"
    assert len(done["attempts"]) == 2


def test_a_definition_without_command(client: Any, queue: str) -> None:
    client.register_job_definition(
        jobDefinitionName="nocommand",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64},
    )
    done = wait_status(client, submit(client, queue, "nocommand"))
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Task failed to start"
    assert done["container"]["reason"].startswith("CannotStartContainerError")
    assert "command" in done["container"]["reason"]

"""CancelJob and TerminateJob in every state, with real local processes (docs/api.md, CancelJob;
TerminateJob)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobtools import (
    Barrier,
    create_ce,
    create_queue,
    gate_wait,
    kill_if_alive,
    open_gate,
    process_gone,
    read_pid,
    submit,
    wait_gone,
    wait_reason,
)
from tests.support import describe, register, wait_status

REASON = "stopped by the test"


@pytest.fixture
def queue(client: Any) -> str:
    create_ce(client, "ce", max_vcpus=4)
    return create_queue(client, "q", ["ce"])


def stop(client: Any, how: str, job_id: str, reason: str = REASON) -> None:
    getattr(client, f"{how}_job")(jobId=job_id, reason=reason)


def flag(how: str) -> str:
    return "isCancelled" if how == "cancel" else "isTerminated"


# --- queued jobs: SUBMITTED, PENDING, RUNNABLE ---------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_stopping_a_pending_job_fails_it_and_its_dependents(
    client: Any, queue: str, tmp_path: Path, how: str
) -> None:
    gate, marker = tmp_path / "gate", tmp_path / "ran"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    register(client, "touch", ["sh", "-c", f"touch {marker}"])
    a = submit(client, queue, "hold", "a")
    b = submit(client, queue, "touch", "b", dependsOn=[{"jobId": a}])
    c = submit(client, queue, "touch", "c", dependsOn=[{"jobId": b}])
    wait_status(client, b, {"PENDING"})
    stop(client, how, b)
    detail = describe(client, b)
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == REASON
    assert detail[flag(how)] is True
    assert "startedAt" not in detail
    assert detail["stoppedAt"] > 0
    assert detail["attempts"] == []
    dependent = wait_status(client, c)
    assert dependent["status"] == "FAILED"
    assert dependent["statusReason"] == "Dependent Job failed"
    open_gate(gate)
    assert wait_status(client, a)["status"] == "SUCCEEDED"
    assert describe(client, b)["status"] == "FAILED"
    assert not marker.exists()


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_stopping_a_just_submitted_job(client: Any, queue: str, tmp_path: Path, how: str) -> None:
    gate, marker = tmp_path / "gate", tmp_path / "ran"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    register(client, "touch", ["sh", "-c", f"touch {marker}"])
    a = submit(client, queue, "hold", "a")
    b = submit(client, queue, "touch", "b", dependsOn=[{"jobId": a}])
    # SUBMITTED or already PENDING: either way still queued.
    assert describe(client, b)["status"] in ("SUBMITTED", "PENDING")
    stop(client, how, b)
    assert describe(client, b)["status"] == "FAILED"
    open_gate(gate)
    wait_status(client, a)
    assert describe(client, b)["statusReason"] == REASON
    assert not marker.exists()


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_stopping_a_runnable_job_too_big_to_run(client: Any, queue: str, how: str) -> None:
    register(client, "ok", ["true"])
    job = submit(client, queue, "ok", containerOverrides={"vcpus": 64})
    wait_reason(client, job, "MISCONFIGURATION")
    stop(client, how, job)
    detail = describe(client, job)
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == REASON
    assert detail[flag(how)] is True


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_a_stopped_runnable_job_never_runs(client: Any, tmp_path: Path, how: str) -> None:
    create_ce(client, "off", state="DISABLED")
    create_queue(client, "q", ["off"])
    barrier = Barrier(client)
    marker = tmp_path / "ran"
    register(client, "touch", ["sh", "-c", f"touch {marker}"])
    job = submit(client, "q", "touch")
    wait_status(client, job, {"RUNNABLE"})
    stop(client, how, job)
    assert describe(client, job)["status"] == "FAILED"
    client.update_compute_environment(computeEnvironment="off", state="ENABLED")
    barrier()
    detail = describe(client, job)
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == REASON
    assert not marker.exists()


# --- placed jobs: STARTING, RUNNING -----------------------------------------------------------------


def test_cancel_leaves_a_running_job_running(client: Any, queue: str, tmp_path: Path) -> None:
    barrier = Barrier(client)
    gate = tmp_path / "gate"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    job = submit(client, queue, "hold")
    wait_status(client, job, {"RUNNING"})
    client.cancel_job(jobId=job, reason=REASON)
    barrier()
    detail = describe(client, job)
    assert detail["status"] == "RUNNING"
    assert "stoppedAt" not in detail
    open_gate(gate)
    done = wait_status(client, job)
    assert done["status"] == "SUCCEEDED"
    assert done["statusReason"] == "Essential container in task exited"
    assert done.get("isCancelled") is not True


def test_terminate_stops_a_running_job(client: Any, queue: str, tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    register(client, "long", ["sh", "-c", f"sleep 60 & echo $! > {child_file}; echo $$ > {pid_file}; wait"])
    job = submit(client, queue, "long")
    pid, child = read_pid(pid_file), read_pid(child_file)
    try:
        running = wait_status(client, job, {"RUNNING"})
        assert not process_gone(pid) and not process_gone(child)
        client.terminate_job(jobId=job, reason=REASON)
        done = wait_status(client, job, timeout=15)
        assert done["status"] == "FAILED"
        assert done["statusReason"] == REASON
        assert done["isTerminated"] is True
        assert done["startedAt"] == running["startedAt"]
        assert done["stoppedAt"] >= done["startedAt"]
        assert done["container"]["exitCode"] == 143
        assert len(done["attempts"]) == 1
        assert done["attempts"][0]["container"]["exitCode"] == 143
        wait_gone(pid)
        wait_gone(child)
    finally:
        kill_if_alive(pid, child)


def test_terminate_is_not_retried(client: Any, queue: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    register(client, "long", ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"])
    job = submit(client, queue, "long", retryStrategy={"attempts": 3})
    pid = read_pid(pid_file)
    try:
        wait_status(client, job, {"RUNNING"})
        client.terminate_job(jobId=job, reason=REASON)
        done = wait_status(client, job, timeout=15)
        assert done["status"] == "FAILED"
        assert done["statusReason"] == REASON
        assert len(done["attempts"]) == 1
        wait_gone(pid)
    finally:
        kill_if_alive(pid)


def test_a_program_ignoring_sigterm_is_killed_after_the_grace(
    client: Any, queue: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    # The pid is written once TERM is ignored; `sleep` inherits the ignored disposition.
    register(client, "stubborn", ["sh", "-c", f"trap '' TERM; echo $$ > {pid_file}; sleep 60"])
    job = submit(client, queue, "stubborn")
    pid = read_pid(pid_file)
    try:
        wait_status(client, job, {"RUNNING"})
        start = time.monotonic()
        client.terminate_job(jobId=job, reason=REASON)
        done = wait_status(client, job, timeout=20)
        waited = time.monotonic() - start
        assert done["status"] == "FAILED"
        assert done["statusReason"] == REASON
        # The fixture's grace is 2 s: SIGTERM was ignored, SIGKILL came after it.
        assert waited >= 1.5
        assert done["container"]["exitCode"] == 137
        wait_gone(pid)
    finally:
        kill_if_alive(pid)


def test_terminate_right_after_submit_wherever_the_job_is(client: Any, queue: str, tmp_path: Path) -> None:
    """Best effort at STARTING: terminate at once, and again once placed; the job never succeeds."""
    # Written under a temporary name and renamed: a pid file that exists is complete, however slowly
    # the job runs.
    register(
        client,
        "long",
        ["sh", "-c", 'echo $$ > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"; exec sleep 60'],
    )
    pids: list[Path] = []
    jobs = []
    for i in range(3):
        pid_file = tmp_path / f"pid{i}"
        pids.append(pid_file)
        job = submit(
            client,
            queue,
            "long",
            f"j{i}",
            containerOverrides={"environment": [{"name": "PIDFILE", "value": str(pid_file)}]},
        )
        client.terminate_job(jobId=job, reason=REASON)
        jobs.append(job)
    placed = submit(
        client,
        queue,
        "long",
        "placed",
        containerOverrides={"environment": [{"name": "PIDFILE", "value": str(tmp_path / "pid-placed")}]},
    )
    pids.append(tmp_path / "pid-placed")
    wait_status(client, placed, {"STARTING", "RUNNING"}, timeout=60)
    client.terminate_job(jobId=placed, reason=REASON)
    jobs.append(placed)
    for job in jobs:
        done = wait_status(client, job, timeout=60)
        assert done["status"] == "FAILED"
        assert done["statusReason"] == REASON
        assert done["isTerminated"] is True
    for pid_file in pids:
        # The job ended: its pid file, if any, is whole (renamed into place); a temporary one left by a
        # job killed before the rename names a process that must be gone too.
        for written in (pid_file, pid_file.with_name(pid_file.name + ".tmp")):
            text = written.read_text() if written.exists() else ""
            if text.endswith("\n") and text.strip().isdigit():  # `echo` wrote all of it
                pid = int(text)
                try:
                    wait_gone(pid, timeout=30)
                finally:
                    kill_if_alive(pid)


def test_dependents_of_a_terminated_job_fail(client: Any, queue: str, tmp_path: Path) -> None:
    gate, marker = tmp_path / "gate", tmp_path / "ran"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    register(client, "touch", ["sh", "-c", f"touch {marker}"])
    a = submit(client, queue, "hold", "a")
    b = submit(client, queue, "touch", "b", dependsOn=[{"jobId": a}])
    wait_status(client, a, {"RUNNING"})
    client.terminate_job(jobId=a, reason=REASON)
    assert wait_status(client, a)["status"] == "FAILED"
    done = wait_status(client, b)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Dependent Job failed"
    assert not marker.exists()


# --- ended jobs and unknown ids ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_stopping_an_ended_job_changes_nothing(client: Any, queue: str, how: str) -> None:
    register(client, "ok", ["true"])
    job = submit(client, queue, "ok")
    before = wait_status(client, job)
    assert before["status"] == "SUCCEEDED"
    stop(client, how, job)
    after = describe(client, job)
    assert after["status"] == "SUCCEEDED"
    assert after["statusReason"] == before["statusReason"]
    assert after["stoppedAt"] == before["stoppedAt"]


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_stopping_an_unknown_job(client: Any, queue: str, how: str) -> None:
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        stop(client, how, "00000000-0000-0000-0000-000000000000")

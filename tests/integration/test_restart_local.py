"""kill -9 of the server while local jobs run, then a restart on the same data (docs/api.md, Job statuses and
statusReason; docs/jobs.md, Crash safety)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.integration.jobtools import (
    create_ce,
    create_queue,
    gate_wait,
    kill_if_alive,
    open_gate,
    process_gone,
    read_pid,
    submit,
    wait_gone,
)
from tests.support import Server, describe, output, register, wait_status


def long_running(pid_file: Path, child_file: Path) -> list[str]:
    """Writes its pid and its child's, then waits on the child (not `exec`: the child is an orphan risk)."""
    return ["sh", "-c", f"sleep 60 & echo $! > {child_file}; echo $$ > {pid_file}; wait"]


def test_jobs_running_at_a_crash_end_after_restart(server: Server, tmp_path: Path) -> None:
    client = server.client()
    create_ce(client, "ce", max_vcpus=2)
    create_queue(client, "q", ["ce"])
    pids = {name: (tmp_path / f"{name}.pid", tmp_path / f"{name}.child") for name in ("plain", "retried")}
    register(client, "plain", long_running(*pids["plain"]))
    # First attempt blocks until the crash; the retry after the restart succeeds at once.
    retried_script = (
        f'[ "$AWS_BATCH_JOB_ATTEMPT" = 1 ] || exit 0; '
        f"sleep 60 & echo $! > {pids['retried'][1]}; echo $$ > {pids['retried'][0]}; wait"
    )
    register(client, "retried", ["sh", "-c", retried_script], attempts=2)
    register(client, "after", ["sh", "-c", 'echo "ran on attempt $AWS_BATCH_JOB_ATTEMPT"'])
    plain = submit(client, "q", "plain", "plain")
    retried = submit(client, "q", "retried", "retried")
    # The environment is full: this one waits RUNNABLE; the next one waits PENDING on `plain`.
    queued = submit(client, "q", "after", "queued")
    dependent = submit(client, "q", "after", "dependent", dependsOn=[{"jobId": retried}])
    processes = [read_pid(path) for pair in pids.values() for path in pair]
    try:
        wait_status(client, plain, {"RUNNING"})
        wait_status(client, retried, {"RUNNING"})
        wait_status(client, queued, {"RUNNABLE"})
        wait_status(client, dependent, {"PENDING"})
        assert not any(process_gone(pid) for pid in processes)

        server.kill()
        server.start()
        client = server.client()

        for pid in processes:
            wait_gone(pid)
        failed = wait_status(client, plain)
        assert failed["status"] == "FAILED"
        assert "restart" in failed["statusReason"].lower()
        assert failed["stoppedAt"] > 0
        assert len(failed["attempts"]) == 1
        succeeded = wait_status(client, retried)
        assert succeeded["status"] == "SUCCEEDED"
        assert len(succeeded["attempts"]) == 2
        assert "restart" in succeeded["attempts"][0]["statusReason"].lower()
        assert succeeded["attempts"][1]["container"]["exitCode"] == 0
        for job in (queued, dependent):
            assert wait_status(client, job)["status"] == "SUCCEEDED"
        assert output(server, queued) == ["ran on attempt 1"]
        left = client.list_jobs(jobQueue="q", jobStatus="RUNNING")["jobSummaryList"]
        left += client.list_jobs(jobQueue="q", jobStatus="STARTING")["jobSummaryList"]
        assert left == []
    finally:
        kill_if_alive(*processes)


def test_queued_jobs_survive_a_crash(server: Server, tmp_path: Path) -> None:
    client = server.client()
    create_ce(client, "off", state="DISABLED")
    create_queue(client, "q", ["off"])
    gate = tmp_path / "gate"
    register(client, "hold", ["sh", "-c", gate_wait(gate)])
    register(client, "ok", ["echo", "ok"])
    first = submit(client, "q", "hold", "first")
    second = submit(client, "q", "ok", "second", dependsOn=[{"jobId": first}])
    wait_status(client, first, {"RUNNABLE"})
    wait_status(client, second, {"PENDING"})

    server.kill()
    server.start()
    client = server.client()

    assert describe(client, first)["status"] == "RUNNABLE"
    assert describe(client, second)["status"] == "PENDING"
    client.update_compute_environment(computeEnvironment="off", state="ENABLED")
    wait_status(client, first, {"RUNNING"})
    open_gate(gate)
    assert wait_status(client, first)["status"] == "SUCCEEDED"
    assert wait_status(client, second)["status"] == "SUCCEEDED"
    assert output(server, second) == ["ok"]


def test_logs_written_before_a_crash_are_kept(server: Server, tmp_path: Path) -> None:
    client = server.client()
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    pid_file = tmp_path / "pid"
    register(client, "talk", ["sh", "-c", f"echo before; echo $$ > {pid_file}; exec sleep 60"])
    job = submit(client, "q", "talk")
    pid = read_pid(pid_file)
    try:
        wait_status(client, job, {"RUNNING"})
        server.kill()
        server.start()
        client = server.client()
        wait_gone(pid)
        assert wait_status(client, job)["status"] == "FAILED"
        assert output(server, job) == ["before"]
    finally:
        kill_if_alive(pid)


def _long_job(server: Server, tmp_path: Path) -> tuple[Any, str, list[int]]:
    """A client, a submitted `long_running` job on queue "q", and the pids of its shell and child."""
    client = server.client()
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    register(client, "long", long_running(pid_file, child_file))
    job = submit(client, "q", "long")
    return client, job, [read_pid(pid_file), read_pid(child_file)]


def test_a_graceful_stop_also_ends_local_jobs(server: Server, tmp_path: Path) -> None:
    client, job, processes = _long_job(server, tmp_path)
    try:
        wait_status(client, job, {"RUNNING"})
        server.stop()
        server.start()
        client = server.client()
        for pid in processes:
            wait_gone(pid)
        done = wait_status(client, job)
        assert done["status"] == "FAILED"
        assert "restart" in done["statusReason"].lower()
    finally:
        kill_if_alive(*processes)


def _agent_of(server: Server) -> int:
    """The local agent: the server's child that runs `batchd.executors.agent`."""
    assert server.process is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == server.process.pid and b"executors.agent" in cmdline:
            return int(entry.name)
    raise AssertionError("the server has no local agent")


def test_jobs_of_a_killed_agent_end_and_the_next_job_runs(server: Server, tmp_path: Path) -> None:
    """kill -9 of the local agent alone: its jobs fail or retry, their processes end, and jobs go on."""
    client, job, processes = _long_job(server, tmp_path)
    register(client, "after", ["sh", "-c", "echo after the agent"])
    try:
        wait_status(client, job, {"RUNNING"})
        os.kill(_agent_of(server), signal.SIGKILL)
        failed = wait_status(client, job)
        assert failed["status"] == "FAILED"
        assert "local agent" in failed["attempts"][0]["statusReason"]
        for pid in processes:
            wait_gone(pid)
        after = submit(client, "q", "after")
        assert wait_status(client, after)["status"] == "SUCCEEDED"
        assert output(server, after) == ["after the agent"]
    finally:
        kill_if_alive(*processes)


def test_a_server_killed_hard_takes_its_local_jobs_down_at_once(server: Server, tmp_path: Path) -> None:
    """No restart needed: the agent sees the server go and ends the jobs itself."""
    client, job, processes = _long_job(server, tmp_path)
    try:
        wait_status(client, job, {"RUNNING"})
        agent = _agent_of(server)
        server.kill()
        for pid in (*processes, agent):
            wait_gone(pid)
    finally:
        kill_if_alive(*processes)


def test_the_local_agent_is_ready_before_the_first_job(server: Server) -> None:
    """Started with the server, so the first job does not wait for an interpreter to start."""
    assert _agent_of(server) > 0

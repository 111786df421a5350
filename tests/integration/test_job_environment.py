"""What a job's process sees and is limited by, with the local executor (docs/api.md, The job's container and
environment)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from batchd.executors import cgroups
from tests.integration.jobtools import (
    PYTHON,
    create_ce,
    create_queue,
    kill_if_alive,
    process_gone,
    submit,
)
from tests.support import Server, describe, output, register, wait_status

ROOT = os.geteuid() == 0


@pytest.fixture
def queue(client: Any) -> str:
    create_ce(client, "my-ce", max_vcpus=4)
    return create_queue(client, "my-queue", ["my-ce"])


def env_of(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def run(server: Server, client: Any, queue: str, definition: str, **kwargs: Any) -> dict[str, Any]:
    done = wait_status(client, submit(client, queue, definition, **kwargs))
    return done


# --- environment variables ------------------------------------------------------------------------


def test_injected_batch_variables(server: Server, client: Any, queue: str) -> None:
    register(client, "env", ["env"])
    done = run(server, client, queue, "env")
    assert done["status"] == "SUCCEEDED"
    seen = env_of(output(server, done["jobId"]))
    assert seen["AWS_BATCH_JOB_ID"] == done["jobId"]
    assert seen["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert seen["AWS_BATCH_JQ_NAME"] == "my-queue"
    assert seen["AWS_BATCH_CE_NAME"] == "my-ce"
    # DescribeJobs shows the job's own environment, not the injected variables.
    assert not [e for e in done["container"]["environment"] if e["name"].startswith("AWS_BATCH")]


def test_the_server_environment_does_not_leak_into_jobs(tmp_path: Path) -> None:
    with Server(tmp_path / "data", ["--executor", "local"], env={"BATCHD_TEST_SECRET": "s3cr3t"}) as srv:
        client = srv.client()
        create_ce(client, "ce")
        create_queue(client, "q", ["ce"])
        register(client, "env", ["env"])
        done = run(srv, client, "q", "env")
        assert done["status"] == "SUCCEEDED"
        assert "BATCHD_TEST_SECRET" not in env_of(output(srv, done["jobId"]))


def test_definition_environment_merged_with_overrides(server: Server, client: Any, queue: str) -> None:
    register(
        client,
        "env",
        ["env"],
        environment=[{"name": "KEEP", "value": "k"}, {"name": "CHANGE", "value": "old"}],
    )
    overrides = {"environment": [{"name": "CHANGE", "value": "new"}, {"name": "ADD", "value": "a b"}]}
    done = run(server, client, queue, "env", containerOverrides=overrides)
    seen = env_of(output(server, done["jobId"]))
    assert (seen["KEEP"], seen["CHANGE"], seen["ADD"]) == ("k", "new", "a b")
    described = {e["name"]: e["value"] for e in done["container"]["environment"]}
    assert described == {"KEEP": "k", "CHANGE": "new", "ADD": "a b"}


def test_overrides_cannot_set_batch_variables(client: Any, queue: str) -> None:
    register(client, "env", ["env"])
    with pytest.raises(client.exceptions.ClientException):
        submit(
            client,
            queue,
            "env",
            containerOverrides={"environment": [{"name": "AWS_BATCH_JOB_ID", "value": "forged"}]},
        )


# --- parameters --------------------------------------------------------------------------------------


def test_ref_parameters_in_the_command(server: Server, client: Any, queue: str) -> None:
    client.register_job_definition(
        jobDefinitionName="params",
        type="container",
        parameters={"greeting": "hello", "who": "world"},
        containerProperties={
            "image": "busybox",
            "vcpus": 1,
            "memory": 64,
            "command": ["echo", "Ref::greeting", "Ref::who", "Ref::missing", "x-Ref::who"],
        },
    )
    defaults = run(server, client, queue, "params")
    assert output(server, defaults["jobId"]) == ["hello world Ref::missing x-Ref::who"]
    assert defaults["container"]["command"] == ["echo", "hello", "world", "Ref::missing", "x-Ref::who"]
    assert defaults["parameters"] == {"greeting": "hello", "who": "world"}
    submitted = run(server, client, queue, "params", parameters={"who": "batch", "missing": "found"})
    assert output(server, submitted["jobId"]) == ["hello batch found x-Ref::who"]
    assert submitted["parameters"] == {"greeting": "hello", "who": "batch", "missing": "found"}


def test_ref_parameters_in_an_override_command(server: Server, client: Any, queue: str) -> None:
    client.register_job_definition(
        jobDefinitionName="params",
        type="container",
        parameters={"word": "default"},
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["false"]},
    )
    done = run(
        server,
        client,
        queue,
        "params",
        parameters={"word": "given"},
        containerOverrides={"command": ["echo", "override", "Ref::word"]},
    )
    assert done["status"] == "SUCCEEDED"
    assert output(server, done["jobId"]) == ["override given"]


def test_arguments_are_passed_without_a_shell(server: Server, client: Any, queue: str) -> None:
    register(client, "args", ["printf", "%s|", "two words", "$HOME", "*", "a;b"])
    done = run(server, client, queue, "args")
    assert output(server, done["jobId"]) == ["two words|$HOME|*|a;b|"]


# --- limits, user, working directory ------------------------------------------------------------------


def test_ulimits_are_applied(server: Server, client: Any, queue: str) -> None:
    register(
        client,
        "limits",
        ["sh", "-c", "ulimit -n; ulimit -Hn"],
        ulimits=[{"name": "nofile", "softLimit": 100, "hardLimit": 200}],
    )
    done = run(server, client, queue, "limits")
    assert done["status"] == "SUCCEEDED"
    assert output(server, done["jobId"]) == ["100", "200"]
    assert done["container"]["ulimits"] == [{"name": "nofile", "softLimit": 100, "hardLimit": 200}]


def test_working_directory_per_attempt(server: Server, client: Any, queue: str) -> None:
    # Each attempt leaves a file behind and lists what it finds; the first fails.
    script = 'pwd; ls; touch "left-by-$AWS_BATCH_JOB_ATTEMPT"; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]'
    register(client, "where", ["sh", "-c", script], attempts=2)
    done = run(server, client, queue, "where")
    assert done["status"] == "SUCCEEDED"
    first = output(server, done["jobId"], "--attempt", "1")
    second = output(server, done["jobId"], "--attempt", "2")
    assert first[0] != second[0]
    data = server.data_dir.resolve()
    for lines, attempt in ((first, 1), (second, 2)):
        cwd = Path(lines[0])
        assert cwd.is_relative_to(data), cwd
        assert cwd.parts[-2:] == (done["jobId"], str(attempt))
        # A fresh, empty directory for every attempt, gone with it as a container's filesystem is.
        assert lines[1:] == []
        assert not cwd.exists()
    assert not (data / "work" / done["jobId"]).exists()


@pytest.mark.skipif(not ROOT, reason="running a job as another user needs batchd to run as root")
def test_user_is_applied(server: Server, client: Any, queue: str) -> None:
    register(client, "who", ["sh", "-c", "id -u; id -g; touch mine && echo writable"], user="nobody")
    done = run(server, client, queue, "who")
    assert done["status"] == "SUCCEEDED", done
    assert output(server, done["jobId"]) == ["65534", "65534", "writable"]


@pytest.mark.skipif(not ROOT, reason="running a job as another user needs batchd to run as root")
def test_an_unknown_user_fails_to_start(client: Any, queue: str) -> None:
    register(client, "who", ["id"], user="no-such-user-here")
    done = wait_status(client, submit(client, queue, "who"))
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Task failed to start"
    assert done["container"]["reason"].startswith("CannotStartContainerError")


@pytest.mark.skipif(
    cgroups.available() is not None, reason=f"no cgroup memory limits here: {cgroups.available()}"
)
def test_memory_limit_kills_a_greedy_job(server: Server, client: Any, queue: str) -> None:
    greedy = [PYTHON, "-c", "b = bytearray(200 * 1024 * 1024); print(len(b))"]
    register(client, "greedy", greedy, memory=16)
    done = wait_status(client, submit(client, queue, "greedy"), timeout=60)
    assert done["status"] == "FAILED"
    assert done["container"]["reason"].startswith("OutOfMemoryError")
    assert done["container"]["exitCode"] == 137
    # With room enough, the same program succeeds.
    register(client, "roomy", greedy, memory=512)
    done = wait_status(client, submit(client, queue, "roomy"), timeout=60)
    assert done["status"] == "SUCCEEDED"
    assert output(server, done["jobId"]) == [str(200 * 1024 * 1024)]


def test_a_job_ends_with_its_main_process(server: Server, client: Any, queue: str, tmp_path: Path) -> None:
    """As with a container: once the main process exits, what it left running is stopped too."""
    child = tmp_path / "child"
    register(client, "leaves", ["sh", "-c", f"sleep 60 & echo $! > {child}; echo main done"])
    job = submit(client, queue, "leaves")
    try:
        done = wait_status(client, job, timeout=20)
        assert done["status"] == "SUCCEEDED"
        assert done["stoppedAt"] - done["startedAt"] < 10_000
        assert output(server, job) == ["main done"]
        pid = int(child.read_text())
        assert process_gone(pid)
    finally:
        if child.exists():
            kill_if_alive(int(child.read_text()))
    assert describe(client, job)["status"] == "SUCCEEDED"

"""Jobs run as containers by a real Docker engine, through the whole server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    Server,
    describe,
    logs,
    make_environment,
    needs_docker,
    register,
    wait_for,
    wait_status,
)

pytestmark = needs_docker()


@pytest.fixture
def docker_server(tmp_path: Path) -> Iterator[Server]:
    with Server(tmp_path / "data", ["--executor", "docker", "--stop-grace-seconds", "2"]) as srv:
        yield srv


def _container_ids(job_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=batchd.job-id={job_id}"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return out.stdout.split()


def test_container_job_output_environment_and_cleanup(docker_server: Server) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    register(
        client,
        "env",
        [
            "sh",
            "-c",
            "echo job=$AWS_BATCH_JOB_ID attempt=$AWS_BATCH_JOB_ATTEMPT q=$AWS_BATCH_JQ_NAME; echo oops >&2",
        ],
        environment=[{"name": "GREETING", "value": "hi"}],
    )
    job = client.submit_job(jobName="env", jobQueue=queue, jobDefinition="env")
    done = wait_status(client, job["jobId"], timeout=60)
    assert done["status"] == "SUCCEEDED", done
    assert done["container"]["exitCode"] == 0
    output = logs(docker_server, job["jobId"], "--no-timestamps").stdout
    assert f"job={job['jobId']} attempt=1 q={queue}" in output
    assert "oops" in output
    # The container is removed once its logs are kept.
    wait_for(lambda: not _container_ids(job["jobId"]), timeout=60, what="container removal")


def test_exit_code_and_missing_image(docker_server: Server) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    register(client, "exit3", ["sh", "-c", "exit 3"])
    register(client, "noimage", ["true"], image="batchd-test/does-not-exist:1")
    failed = wait_status(
        client, client.submit_job(jobName="e", jobQueue=queue, jobDefinition="exit3")["jobId"], timeout=60
    )
    assert failed["status"] == "FAILED"
    assert failed["container"]["exitCode"] == 3
    missing = client.submit_job(jobName="m", jobQueue=queue, jobDefinition="noimage")
    not_pulled = wait_status(client, missing["jobId"], timeout=60)
    assert not_pulled["status"] == "FAILED"
    assert not_pulled["statusReason"] == "Task failed to start"
    assert not_pulled["container"]["reason"].startswith("CannotPullContainerError")


def test_memory_limit_kills_the_container(docker_server: Server) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    register(client, "hog", ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"], memory=16)
    job = wait_status(
        client, client.submit_job(jobName="hog", jobQueue=queue, jobDefinition="hog")["jobId"], timeout=60
    )
    assert job["status"] == "FAILED"
    assert job["container"]["reason"].startswith("OutOfMemoryError")


def test_mounts_readonly_root_user_and_ulimits(docker_server: Server, tmp_path: Path) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    register(
        client,
        "confined",
        ["sh", "-c", "id -u > /data/uid; ulimit -n > /data/nofile; touch /rootfile 2>/data/rofs; echo done"],
        volumes=[{"name": "shared", "host": {"sourcePath": str(shared)}}],
        mountPoints=[{"sourceVolume": "shared", "containerPath": "/data", "readOnly": False}],
        readonlyRootFilesystem=True,
        user="65534",
        ulimits=[{"name": "nofile", "softLimit": 100, "hardLimit": 100}],
    )
    job = wait_status(
        client, client.submit_job(jobName="c", jobQueue=queue, jobDefinition="confined")["jobId"], timeout=60
    )
    assert job["status"] == "SUCCEEDED", job
    assert (shared / "uid").read_text().strip() == "65534"
    assert (shared / "nofile").read_text().strip() == "100"
    assert "Read-only file system" in (shared / "rofs").read_text()


def test_terminate_a_running_container(docker_server: Server) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    register(client, "sleeper", ["sleep", "60"])
    job_id = client.submit_job(jobName="s", jobQueue=queue, jobDefinition="sleeper")["jobId"]
    wait_status(client, job_id, ["RUNNING"], timeout=60)
    client.terminate_job(jobId=job_id, reason="enough")
    job = wait_status(client, job_id, timeout=60)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "enough"
    wait_for(lambda: not _container_ids(job_id), timeout=60, what="container removal")


def test_restart_after_kill_reattaches_and_settles(docker_server: Server, tmp_path: Path) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    gate = tmp_path / "gate"
    gate.mkdir()
    gate.chmod(0o777)
    # One job finishes while the server is down, the other only after it is back.
    register(
        client,
        "waiter",
        [
            "sh",
            "-c",
            "echo started; while [ ! -f /gate/$AWS_BATCH_JOB_ID ]; do sleep 0.1; done; echo finished; exit 7",
        ],
        volumes=[{"name": "gate", "host": {"sourcePath": str(gate)}}],
        mountPoints=[{"sourceVolume": "gate", "containerPath": "/gate", "readOnly": True}],
    )
    early = client.submit_job(jobName="early", jobQueue=queue, jobDefinition="waiter")["jobId"]
    late = client.submit_job(jobName="late", jobQueue=queue, jobDefinition="waiter")["jobId"]
    for job_id in (early, late):
        wait_status(client, job_id, ["RUNNING"], timeout=60)
    docker_server.kill()
    (gate / early).touch()
    wait_for(
        lambda: (
            subprocess.run(
                ["docker", "ps", "-q", "--filter", f"label=batchd.job-id={early}"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            == ""
        ),
        timeout=60,
        what="the early container to exit while the server is down",
    )
    docker_server.start()
    client = docker_server.client()
    settled = wait_status(client, early, timeout=60)
    assert settled["status"] == "FAILED"
    assert settled["container"]["exitCode"] == 7
    assert describe(client, late)["status"] == "RUNNING"
    (gate / late).touch()
    finished = wait_status(client, late, timeout=60)
    assert finished["container"]["exitCode"] == 7
    assert len(finished["attempts"]) == 1
    output = logs(docker_server, late, "--no-timestamps").stdout
    assert output.count("started") == 1 and "finished" in output


def test_array_children_run_as_containers(docker_server: Server) -> None:
    client = docker_server.client()
    queue = make_environment(client)
    register(client, "array", ["sh", "-c", "echo index=$AWS_BATCH_JOB_ARRAY_INDEX id=$AWS_BATCH_JOB_ID"])
    parent = client.submit_job(
        jobName="array", jobQueue=queue, jobDefinition="array", arrayProperties={"size": 2}
    )
    done = wait_status(client, parent["jobId"], timeout=90)
    assert done["status"] == "SUCCEEDED", done
    for index in range(2):
        child = f"{parent['jobId']}:{index}"
        assert describe(client, child)["container"]["exitCode"] == 0
        output = logs(docker_server, child, "--no-timestamps").stdout.splitlines()
        assert output == [f"index={index} id={child}"]
        assert _container_ids(child) == []  # removed once settled

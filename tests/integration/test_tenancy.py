"""Several tenants on one credentials-mode server, tried as an attacker would: untrusted accounts get
no host processes, no privileges, no host network and no host mounts; quotas hold one account back
without touching another's jobs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import (
    BATCHD,
    Server,
    describe,
    make_environment,
    needs_docker,
    output,
    register,
    uniq,
    wait_for,
    wait_status,
)

TRUSTED = {"key": "AKIATRUSTED000000001", "secret": "trusted-secret", "account": "111111111111"}
TENANT = {"key": "AKIATENANT0000000002", "secret": "tenant-secret", "account": "222222222222"}
LIMITED = {"key": "AKIALIMITED000000003", "secret": "limited-secret", "account": "333333333333"}


def _profile(name: str, who: dict[str, str], *extra: str) -> str:
    lines = [
        f"[{name}]",
        f"aws_access_key_id = {who['key']}",
        f"aws_secret_access_key = {who['secret']}",
        f"aws_account_id = {who['account']}",
        *extra,
    ]
    return "\n".join(lines) + "\n\n"


def _credentials(root: Path, *profiles: str) -> Path:
    path = root / "credentials"
    path.write_text("".join(profiles))
    return path


def _refusal(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == "ClientException", error
    return str(error["Message"])


# --- local executor: host processes are for trusted accounts only -------------------------------------


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tenancy-local")
    credentials = _credentials(
        root,
        _profile("trusted", TRUSTED, "batchd_trusted = true", "batchd_max_running_vcpus = 1"),
        _profile("tenant", TENANT),
        _profile("limited", LIMITED, "batchd_trusted = yes", "batchd_max_queued_jobs = 2"),
    )
    flags = ["--executor", "local", "--credentials", str(credentials), "--stop-grace-seconds", "1"]
    with Server(root / "data", flags) as srv:
        yield srv


def test_untrusted_account_cannot_get_host_processes(local_server: Server) -> None:
    tenant = local_server.client(TENANT["key"], TENANT["secret"])
    resources = {"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2}
    plain = _refusal(
        tenant.create_compute_environment,
        computeEnvironmentName=uniq("ce"),
        type="MANAGED",
        computeResources=resources,
    )
    assert "local host processes" in plain and TENANT["account"] in plain
    for executor in ("local", "docker"):
        tagged = _refusal(
            tenant.create_compute_environment,
            computeEnvironmentName=uniq("ce"),
            type="MANAGED",
            computeResources=resources,
            tags={"batchd:executor": executor},
        )
        assert "batchd:executor" in tagged and "not trusted" in tagged
    assert tenant.describe_compute_environments()["computeEnvironments"] == []


def test_trusted_account_keeps_host_processes(local_server: Server) -> None:
    trusted = local_server.client(TRUSTED["key"], TRUSTED["secret"])
    queue = make_environment(trusted, uniq("ce"), queue=uniq("q"), tags={"batchd:executor": "local"})
    definition = register(trusted, uniq("jd"), ["echo", "on the host"])
    job = trusted.submit_job(jobName="host", jobQueue=queue, jobDefinition=definition)["jobId"]
    assert wait_status(trusted, job, timeout=60)["status"] == "SUCCEEDED"
    assert output(local_server, job, credentials=(TRUSTED["key"], TRUSTED["secret"])) == ["on the host"]


def test_running_vcpu_quota_holds_one_account_only(local_server: Server, tmp_path: Path) -> None:
    limited_by_quota = local_server.client(TRUSTED["key"], TRUSTED["secret"])  # quota: 1 running vCPU
    free = local_server.client(LIMITED["key"], LIMITED["secret"])  # no running quota
    release = tmp_path / "release"
    command = ["sh", "-c", f"while [ ! -e {release} ]; do sleep 0.05; done"]
    held_queue = make_environment(limited_by_quota, uniq("ce"), max_vcpus=8, queue=uniq("q"))
    free_queue = make_environment(free, uniq("ce"), max_vcpus=8, queue=uniq("q"))
    held_def = register(limited_by_quota, uniq("jd"), command)
    free_def = register(free, uniq("jd"), command)
    held = [
        limited_by_quota.submit_job(jobName=f"h{i}", jobQueue=held_queue, jobDefinition=held_def)["jobId"]
        for i in range(3)
    ]
    others = [
        free.submit_job(jobName=f"f{i}", jobQueue=free_queue, jobDefinition=free_def)["jobId"]
        for i in range(2)
    ]
    try:
        for job in others:
            wait_status(free, job, ["RUNNING"], timeout=60)
        wait_status(limited_by_quota, held[0], ["RUNNING"], timeout=60)

        def waiting_reasons() -> list[str] | None:
            jobs = [describe(limited_by_quota, j) for j in held[1:]]
            if all(j["status"] == "RUNNABLE" and "QUOTA" in j.get("statusReason", "") for j in jobs):
                return [j["statusReason"] for j in jobs]
            return None

        reasons = wait_for(waiting_reasons, timeout=60, what="the jobs over quota to say so")
        assert all(TRUSTED["account"] in reason for reason in reasons)
        assert describe(limited_by_quota, held[0])["status"] == "RUNNING"
    finally:
        release.touch()
    # The quota frees as jobs end: every held job runs in turn.
    for job in held:
        assert wait_status(limited_by_quota, job, timeout=90)["status"] == "SUCCEEDED"
    for job in others:
        assert wait_status(free, job, timeout=60)["status"] == "SUCCEEDED"


def test_queued_job_quota_refuses_submits_beyond_it(local_server: Server) -> None:
    limited = local_server.client(LIMITED["key"], LIMITED["secret"])  # quota: 2 queued jobs
    name = uniq("ce")
    queue = make_environment(limited, name, queue=uniq("q"))
    limited.update_compute_environment(computeEnvironment=name, state="DISABLED")
    definition = register(limited, uniq("jd"), ["true"])
    queued = [
        limited.submit_job(jobName=f"q{i}", jobQueue=queue, jobDefinition=definition)["jobId"]
        for i in range(2)
    ]
    message = _refusal(limited.submit_job, jobName="third", jobQueue=queue, jobDefinition=definition)
    assert "2 queued jobs" in message and LIMITED["account"] in message
    listed = limited.list_jobs(jobQueue=queue, jobStatus="RUNNABLE")["jobSummaryList"]
    assert {j["jobName"] for j in limited.list_jobs(jobQueue=queue, jobStatus="SUBMITTED")["jobSummaryList"]
            + listed} <= {"q0", "q1"}  # fmt: skip
    for job in queued:
        limited.cancel_job(jobId=job, reason="done")


def test_conflicting_trust_between_profiles_of_one_account_is_refused(tmp_path: Path) -> None:
    twin = {**TENANT, "key": "AKIATWIN000000000004"}
    credentials = _credentials(
        tmp_path, _profile("a", TENANT, "batchd_trusted = true"), _profile("b", twin, "batchd_trusted = no")
    )
    result = subprocess.run(
        [*BATCHD, "serve", "--data-dir", str(tmp_path / "data"), "--credentials", str(credentials)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "batchd_trusted" in result.stderr and "Traceback" not in result.stderr


# --- Docker: what an untrusted container may and may not do ---------------------------------------------

docker_only = needs_docker()


@pytest.fixture(scope="module")
def docker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tenancy-docker")
    shared = root / "shared"
    shared.mkdir()
    (shared / "input.txt").write_text("shared data\n")
    credentials = _credentials(
        root, _profile("trusted", TRUSTED, "batchd_trusted = true"), _profile("tenant", TENANT)
    )
    flags = [
        "--executor",
        "docker",
        "--credentials",
        str(credentials),
        "--host-mount-allow",
        str(shared),
        "--stop-grace-seconds",
        "1",
    ]
    with Server(root / "data", flags) as srv:
        yield srv


@docker_only
def test_untrusted_definitions_beyond_the_rules_are_refused(docker_server: Server) -> None:
    tenant = docker_server.client(TENANT["key"], TENANT["secret"])
    name = uniq("jd")
    privileged = _refusal(
        tenant.register_job_definition,
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox:latest", "vcpus": 1, "memory": 64, "privileged": True},
    )
    assert "privileged" in privileged
    data_dir = str(docker_server.data_dir)
    for source in ("/", data_dir, f"{data_dir}/batchd.sqlite3", "/var/run/docker.sock", "/etc"):
        props = {
            "image": "busybox:latest",
            "vcpus": 1,
            "memory": 64,
            "volumes": [{"name": "host", "host": {"sourcePath": source}}],
            "mountPoints": [{"sourceVolume": "host", "containerPath": "/mnt"}],
        }
        message = _refusal(
            tenant.register_job_definition,
            jobDefinitionName=name,
            type="container",
            containerProperties=props,
        )
        assert "allow-list" in message, source
    # An escape from the allowed directory through `..` is no better.
    escape = str(docker_server.data_dir.parent / "shared" / ".." / "data")
    props = {
        "image": "busybox:latest",
        "vcpus": 1,
        "memory": 64,
        "volumes": [{"name": "host", "host": {"sourcePath": escape}}],
        "mountPoints": [{"sourceVolume": "host", "containerPath": "/mnt"}],
    }
    _refusal(
        tenant.register_job_definition, jobDefinitionName=name, type="container", containerProperties=props
    )
    assert tenant.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"] == []


@docker_only
def test_untrusted_container_sees_no_host_and_no_loopback(docker_server: Server) -> None:
    tenant = docker_server.client(TENANT["key"], TENANT["secret"])
    trusted = docker_server.client(TRUSTED["key"], TRUSTED["secret"])
    shared = docker_server.data_dir.parent / "shared"
    credentials = docker_server.data_dir.parent / "credentials"
    probe = (
        f"cat {credentials} {docker_server.data_dir}/batchd.sqlite3 >/dev/null 2>&1 && echo host-files;"
        f" printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 {docker_server.port}"
        " 2>/dev/null | grep -q '\"ok\"' && echo loopback;"
        " cat /mnt/input.txt; echo done"
    )
    props: dict[str, Any] = {
        "volumes": [{"name": "shared", "host": {"sourcePath": str(shared)}}],
        "mountPoints": [{"sourceVolume": "shared", "containerPath": "/mnt", "readOnly": True}],
    }
    results = {}
    for who, client, keys in (("tenant", tenant, TENANT), ("trusted", trusted, TRUSTED)):
        queue = make_environment(client, uniq("ce"), queue=uniq("q"))
        definition = register(client, uniq("jd"), ["sh", "-c", probe], **props)
        job = client.submit_job(jobName=who, jobQueue=queue, jobDefinition=definition)["jobId"]
        assert wait_status(client, job, timeout=120)["status"] == "SUCCEEDED"
        results[who] = output(docker_server, job, credentials=(keys["key"], keys["secret"]))
    # The allowed directory is there for both; the loopback network only for the trusted account.
    assert results["tenant"] == ["shared data", "done"]
    assert results["trusted"] == ["loopback", "shared data", "done"]


@docker_only
def test_untrusted_account_cannot_choose_the_executor(docker_server: Server) -> None:
    tenant = docker_server.client(TENANT["key"], TENANT["secret"])
    message = _refusal(
        tenant.create_compute_environment,
        computeEnvironmentName=uniq("ce"),
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 2},
        tags={"batchd:executor": "local"},
    )
    assert "not trusted" in message


def test_mount_allow_list_never_holds_the_data_dir_or_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for bad in ("/", str(tmp_path), str(data), "relative/path"):
        result = subprocess.run(
            [*BATCHD, "serve", "--data-dir", str(data), "--host-mount-allow", bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, bad
        assert "allow-list" in result.stderr and "Traceback" not in result.stderr, result.stderr

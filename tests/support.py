"""Starting a real `batchd serve` for tests, on a free loopback port, and clients for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import pytest
from botocore.config import Config

BATCHD = [sys.executable, "-m", "batchd.cli"]
ENDED = ("SUCCEEDED", "FAILED")
# The account an open-mode server (no --credentials) puts in every ARN, and the region clients use.
ACCOUNT = "123456789012"
REGION = "us-east-1"


def ce_arn(name: str) -> str:
    return f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/{name}"


def jq_arn(name: str) -> str:
    return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}"


def jd_arn(name: str, revision: int) -> str:
    return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{name}:{revision}"


def uniq(prefix: str) -> str:
    """A fresh name, so that tests sharing one server never see each other's resources."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One `batchd serve` process. `kill()` is `kill -9`; `start()` again reuses the same data dir.

    `with Server(...) as srv:` starts it and kills it on the way out.
    """

    def __init__(
        self, data_dir: Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        args = [
            *BATCHD,
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"batchd exited with {self.process.returncode}:\n{self.log_file.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"batchd did not become ready:\n{self.log_file.read_text()}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()

    def client(
        self, access_key: str = "test", secret: str = "test", service: str = "batch", **config: Any
    ) -> Any:
        """A boto3 client of `service` (batch, or logs: one endpoint serves both)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, **config),
        )


def module_server(*extra_flags: str) -> Any:
    """A module-scoped `server` fixture: one local-executor server shared by all of a file's tests.

    Assign it as `server = module_server(...)`; it overrides the fresh-server-per-test fixture of
    conftest.py for that file, and the `client` and `loose` fixtures then talk to it.
    """

    @pytest.fixture(scope="module", name="server")
    def shared_server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        data_dir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "data"
        with Server(data_dir, ["--executor", "local", *extra_flags]) as srv:
            yield srv

    return shared_server


def client_env(credentials: tuple[str, str] | None = None) -> dict[str, str]:
    """The environment of a client command (`batchd logs`, `batchd events`): none of the caller's AWS
    settings, and these credentials if given (else requests go unsigned, as an open-mode server takes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = REGION
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    if credentials is not None:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = credentials
    return env


def logs(
    server: Server,
    job_id: str,
    *args: str,
    check: bool = True,
    timeout: float = 30,
    credentials: tuple[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`batchd logs JOB_ID --endpoint-url URL ARGS` as a separate process, a client of the server's APIs."""
    result = subprocess.run(
        [*BATCHD, "logs", job_id, "--endpoint-url", server.endpoint, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=client_env(credentials),
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def output(server: Server, job_id: str, *args: str, credentials: tuple[str, str] | None = None) -> list[str]:
    """The job's output lines, without timestamps."""
    return logs(server, job_id, "--no-timestamps", *args, credentials=credentials).stdout.splitlines()


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05, what: str = ""
) -> Any:
    """Polls until `predicate()` is truthy; returns its value. No fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def describe(client: Any, job_id: str) -> dict[str, Any]:
    jobs = client.describe_jobs(jobs=[job_id])["jobs"]
    assert jobs, f"job {job_id} not found"
    return dict(jobs[0])


def wait_status(
    client: Any, job_id: str, statuses: Iterable[str] = ENDED, timeout: float = 30
) -> dict[str, Any]:
    wanted = set(statuses)
    return dict(
        wait_for(
            lambda: (lambda j: j if j["status"] in wanted else None)(describe(client, job_id)),
            timeout=timeout,
            what=f"job {job_id} to reach {sorted(wanted)}",
        )
    )


def make_environment(
    client: Any,
    name: str = "ce",
    max_vcpus: int = 4,
    queue: str = "q",
    priority: int = 1,
    tags: dict[str, str] | None = None,
) -> str:
    """A compute environment and a queue on it; returns the queue name."""
    kwargs: dict[str, Any] = {}
    if tags:
        kwargs["tags"] = tags
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={
            "type": "EC2",
            "instanceRole": "ecsInstanceRole",
            "minvCpus": 0,
            "maxvCpus": max_vcpus,
        },
        **kwargs,
    )
    client.create_job_queue(
        jobQueueName=queue,
        priority=priority,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}],
    )
    return queue


def register(
    client: Any, name: str, command: list[str], attempts: int | None = None, **container: Any
) -> str:
    """A container job definition; `attempts` sets its retryStrategy. Returns its ARN."""
    props = {"image": "busybox:latest", "vcpus": 1, "memory": 64, "command": command, **container}
    retry = {"retryStrategy": {"attempts": attempts}} if attempts is not None else {}
    return str(
        client.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties=props, **retry
        )["jobDefinitionArn"]
    )


def needs_docker() -> pytest.MarkDecorator:
    """Skips a test (or, as `pytestmark`, a module) when no Docker engine answers, saying how to start one."""
    from batchd.executors.docker import DockerExecutor

    problem = DockerExecutor().problem()
    return pytest.mark.skipif(
        problem is not None,
        reason=f'no Docker engine ({problem}); start one with: eval "$(.ci/docker-up)"; export DOCKER_HOST',
    )

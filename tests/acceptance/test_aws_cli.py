"""Acceptance: the unmodified `aws` command line drives all 16 operations against a real `batchd serve`."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    ACCOUNT,
    Server,
    ce_arn,
    describe,
    jd_arn,
    jq_arn,
    logs,
    make_environment,
    module_server,
    wait_status,
)


def aws_executable() -> str:
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if found is None:
        pytest.skip("the aws command line is not installed")
    return found


def aws_v2_executable() -> str | None:
    """An AWS CLI v2 (Debian's `awscli` package is one), for what v1 lacks, such as `aws logs tail`."""
    candidates = [
        Path(sys.executable).parent / "aws",
        shutil.which("aws"),
        "/usr/bin/aws",
        "/usr/local/bin/aws",
    ]
    for candidate in dict.fromkeys(str(c) for c in candidates if c):
        if not Path(candidate).exists():
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=60)
        if (version.stdout + version.stderr).startswith("aws-cli/2."):
            return candidate
    return None


server = module_server("--stop-grace-seconds", "2")


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):  # type: ignore[no-untyped-def]
    """An environment with throwaway credentials and no user config, so the test sees only batchd."""
    home = tmp_path_factory.mktemp("aws-home")
    (home / "config").write_text("[default]\nregion = us-east-1\n")
    (home / "credentials").write_text("[default]\naws_access_key_id = test\naws_secret_access_key = test\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
        HOME=str(home),
    )
    return env


class Cli:
    def __init__(self, server: Server, env: dict[str, str]) -> None:
        self.server = server
        self.env = env
        self.executable = aws_executable()

    def run(self, *args: str, service: str = "batch") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, service, *args, "--endpoint-url", self.server.endpoint, "--output", "json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def __call__(self, *args: str, service: str = "batch") -> dict[str, Any]:
        result = self.run(*args, service=service)
        assert result.returncode == 0, f"aws {service} {' '.join(args)} failed:\n{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def logs(self, *args: str) -> dict[str, Any]:
        return self(*args, service="logs")

    def fails(self, *args: str, service: str = "batch") -> str:
        result = self.run(*args, service=service)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr
        return result.stderr


@pytest.fixture
def aws(server, cli_env):  # type: ignore[no-untyped-def]
    return Cli(server, cli_env)


def job_status(aws: Cli, job_id: str) -> dict[str, Any]:
    jobs = aws("describe-jobs", "--jobs", job_id)["jobs"]
    assert len(jobs) == 1
    return dict(jobs[0])


def test_all_sixteen_operations_through_the_aws_cli(aws, server):  # type: ignore[no-untyped-def]
    # The CLI makes every change and every check below; boto3 only polls while jobs move on, because each
    # `aws` process takes a second or more to start.
    poll = server.client()

    # CreateComputeEnvironment / UpdateComputeEnvironment / DescribeComputeEnvironments
    created = aws(
        "create-compute-environment",
        "--compute-environment-name", "cli-ce",
        "--type", "MANAGED",
        "--compute-resources",
        '{"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2, '
        '"instanceTypes": ["optimal"]}',
        "--tags", "team=cli",
    )  # fmt: skip
    assert created == {
        "computeEnvironmentName": "cli-ce",
        "computeEnvironmentArn": ce_arn("cli-ce"),
    }
    aws("update-compute-environment", "--compute-environment", "cli-ce", "--compute-resources", "maxvCpus=4")
    environment = aws("describe-compute-environments", "--compute-environments", "cli-ce")[
        "computeEnvironments"
    ][0]
    assert environment["status"] == "VALID"
    assert environment["statusReason"] == "ComputeEnvironment Healthy"
    assert environment["ecsClusterArn"].startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/cli-ce")
    assert environment["tags"] == {"team": "cli"}
    assert environment["computeResources"]["maxvCpus"] == 4
    assert environment["computeResources"]["instanceTypes"] == ["optimal"]

    # CreateJobQueue / UpdateJobQueue / DescribeJobQueues
    queue = aws(
        "create-job-queue",
        "--job-queue-name", "cli-q",
        "--priority", "1",
        "--compute-environment-order", "order=1,computeEnvironment=cli-ce",
    )  # fmt: skip
    assert queue["jobQueueArn"] == jq_arn("cli-q")
    aws("update-job-queue", "--job-queue", "cli-q", "--priority", "10")
    detail = aws("describe-job-queues", "--job-queues", "cli-q")["jobQueues"][0]
    assert detail["priority"] == 10
    assert detail["status"] == "VALID"
    assert detail["statusReason"] == "JobQueue Healthy"
    assert detail["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
    ]

    # RegisterJobDefinition / DescribeJobDefinitions
    definition = aws(
        "register-job-definition",
        "--job-definition-name", "cli-hello",
        "--type", "container",
        "--container-properties",
        json.dumps({"image": "busybox", "vcpus": 1, "memory": 64, "command": ["sh", "-c", "echo hi"]}),
    )  # fmt: skip
    assert definition["revision"] == 1
    assert definition["jobDefinitionArn"] == jd_arn("cli-hello", 1)
    described = aws("describe-job-definitions", "--job-definition-name", "cli-hello", "--status", "ACTIVE")
    assert [d["revision"] for d in described["jobDefinitions"]] == [1]
    assert described["jobDefinitions"][0]["containerProperties"]["command"] == ["sh", "-c", "echo hi"]

    # SubmitJob / DescribeJobs / ListJobs: a job that runs to SUCCEEDED
    submitted = aws(
        "submit-job", "--job-name", "hello", "--job-queue", "cli-q", "--job-definition", "cli-hello"
    )
    job_id = submitted["jobId"]
    assert submitted["jobName"] == "hello"
    wait_status(poll, job_id)
    done = job_status(aws, job_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["container"]["exitCode"] == 0
    assert done["jobQueue"] == queue["jobQueueArn"]
    assert done["jobDefinition"] == definition["jobDefinitionArn"]
    assert done["stoppedAt"] >= done["startedAt"] >= done["createdAt"]
    listed = aws("list-jobs", "--job-queue", "cli-q", "--job-status", "SUCCEEDED")["jobSummaryList"]
    assert [s["jobId"] for s in listed] == [job_id]
    assert "hi" in logs(server, job_id, "--no-timestamps", timeout=60).stdout.split()

    # CancelJob on a job that can never be placed (16 vCPUs on a 4-vCPU environment)
    held = aws(
        "submit-job", "--job-name", "held", "--job-queue", "cli-q", "--job-definition", "cli-hello",
        "--container-overrides", "vcpus=16",
    )["jobId"]  # fmt: skip
    wait_status(poll, held, ["RUNNABLE"])
    aws("cancel-job", "--job-id", held, "--reason", "cancelled from the cli")
    cancelled = describe(poll, held)
    assert cancelled["status"] == "FAILED"
    assert cancelled["statusReason"] == "cancelled from the cli"

    # TerminateJob on a running job; ListJobs without a status lists it (RUNNING is the default)
    sleeper = aws(
        "submit-job", "--job-name", "sleeper", "--job-queue", "cli-q", "--job-definition", "cli-hello",
        "--container-overrides", '{"command": ["sleep", "30"]}',
    )["jobId"]  # fmt: skip
    try:
        wait_status(poll, sleeper, ["RUNNING"])
        assert [s["jobId"] for s in aws("list-jobs", "--job-queue", "cli-q")["jobSummaryList"]] == [sleeper]
    finally:
        aws("terminate-job", "--job-id", sleeper, "--reason", "terminated from the cli")
    terminated = wait_status(poll, sleeper)
    assert terminated["status"] == "FAILED"
    assert terminated["statusReason"] == "terminated from the cli"

    # DeregisterJobDefinition: the revision is INACTIVE and takes no new jobs
    aws("deregister-job-definition", "--job-definition", "cli-hello:1")
    assert (
        poll.describe_job_definitions(jobDefinitions=["cli-hello:1"])["jobDefinitions"][0]["status"]
        == "INACTIVE"
    )
    stderr = aws.fails(
        "submit-job", "--job-name", "late", "--job-queue", "cli-q", "--job-definition", "cli-hello"
    )
    assert "ClientException" in stderr
    assert "does not exist or is not in ACTIVE status" in stderr

    # DeleteJobQueue, then DeleteComputeEnvironment
    aws("update-job-queue", "--job-queue", "cli-q", "--state", "DISABLED")
    aws("delete-job-queue", "--job-queue", "cli-q")
    assert poll.describe_job_queues(jobQueues=["cli-q"])["jobQueues"] == []
    aws("update-compute-environment", "--compute-environment", "cli-ce", "--state", "DISABLED")
    aws("delete-compute-environment", "--compute-environment", "cli-ce")
    assert (
        aws("describe-compute-environments", "--compute-environments", "cli-ce")["computeEnvironments"] == []
    )
    # Finished jobs stay describable after their queue is gone.
    assert describe(poll, job_id)["status"] == "SUCCEEDED"


def test_errors_reach_the_cli_as_client_exceptions(aws):  # type: ignore[no-untyped-def]
    stderr = aws.fails("describe-jobs", "--jobs", "not a job id")
    assert "ClientException" in stderr
    stderr = aws.fails("cancel-job", "--job-id", "00000000-0000-4000-8000-000000000000", "--reason", "x")
    assert "ClientException" in stderr and "does not exist" in stderr
    stderr = aws.fails("delete-job-queue", "--job-queue", "no-such-queue")
    assert "does not exist" in stderr
    aws(
        "create-compute-environment", "--compute-environment-name", "cli-dup", "--type", "UNMANAGED",
    )  # fmt: skip
    stderr = aws.fails(
        "create-compute-environment", "--compute-environment-name", "cli-dup", "--type", "UNMANAGED"
    )
    assert "Object already exists" in stderr


def test_the_cli_follows_next_tokens(aws, server):  # type: ignore[no-untyped-def]
    setup = server.client()
    for _ in range(5):
        setup.register_job_definition(
            jobDefinitionName="cli-paged",
            type="container",
            containerProperties={"image": "busybox", "vcpus": 1, "memory": 8},
        )
    everything = aws("describe-job-definitions", "--job-definition-name", "cli-paged", "--page-size", "2")
    assert [d["revision"] for d in everything["jobDefinitions"]] == [1, 2, 3, 4, 5]
    assert "nextToken" not in everything
    first = aws(
        "describe-job-definitions",
        "--job-definition-name",
        "cli-paged",
        "--max-items",
        "3",
        "--page-size",
        "2",
    )
    assert [d["revision"] for d in first["jobDefinitions"]] == [1, 2, 3]
    rest = aws(
        "describe-job-definitions", "--job-definition-name", "cli-paged", "--page-size", "2",
        "--starting-token", first["NextToken"],
    )  # fmt: skip
    assert [d["revision"] for d in rest["jobDefinitions"]] == [4, 5]


def test_array_jobs_through_the_cli(aws: Cli, server: Server) -> None:
    setup = server.client()
    make_environment(setup, "cli-array-ce", max_vcpus=2, queue="cli-array-q")
    setup.register_job_definition(
        jobDefinitionName="cli-array",
        type="container",
        containerProperties={
            "image": "busybox", "vcpus": 1, "memory": 8,
            "command": ["sh", "-c", "echo index $AWS_BATCH_JOB_ARRAY_INDEX"],
        },
    )  # fmt: skip
    first = aws(
        "submit-job", "--job-name", "cli-array", "--job-queue", "cli-array-q",
        "--job-definition", "cli-array", "--array-properties", "size=3",
    )["jobId"]  # fmt: skip
    then = aws(
        "submit-job", "--job-name", "cli-array-then", "--job-queue", "cli-array-q",
        "--job-definition", "cli-array", "--array-properties", "size=3",
        "--depends-on", f"jobId={first},type=N_TO_N", "type=SEQUENTIAL",
    )["jobId"]  # fmt: skip
    assert wait_status(setup, then, timeout=60)["status"] == "SUCCEEDED"
    parent = job_status(aws, then)
    assert parent["arrayProperties"]["size"] == 3
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    assert parent["dependsOn"] == [{"jobId": first, "type": "N_TO_N"}, {"type": "SEQUENTIAL"}]
    listed = aws("list-jobs", "--array-job-id", then, "--job-status", "SUCCEEDED")["jobSummaryList"]
    assert [j["arrayProperties"]["index"] for j in listed] == [0, 1, 2]
    child = job_status(aws, f"{then}:2")
    assert child["dependsOn"] == [
        {"jobId": f"{first}:2", "type": "N_TO_N"},
        {"jobId": f"{then}:1", "type": "SEQUENTIAL"},
    ]
    assert logs(server, f"{then}:2", "--no-timestamps").stdout.splitlines() == ["index 2"]
    stderr = aws.fails(
        "submit-job", "--job-name", "x", "--job-queue", "cli-array-q", "--job-definition", "cli-array",
        "--array-properties", "size=1",
    )  # fmt: skip
    assert "between 2 and 10,000" in stderr


def test_tags_through_the_aws_cli(aws: Cli) -> None:
    make_environment(aws.server.client(), "cli-tag-ce", queue="cli-tag-q")
    queue = aws("describe-job-queues", "--job-queues", "cli-tag-q")["jobQueues"][0]["jobQueueArn"]
    aws("tag-resource", "--resource-arn", queue, "--tags", "team=data,stage=test")
    assert aws("list-tags-for-resource", "--resource-arn", queue)["tags"] == {"team": "data", "stage": "test"}
    aws("untag-resource", "--resource-arn", queue, "--tag-keys", "team", "stage")
    assert aws("list-tags-for-resource", "--resource-arn", queue)["tags"] == {}
    assert "does not exist" in aws.fails("list-tags-for-resource", "--resource-arn", queue + "-gone")


def test_job_output_through_aws_logs(aws: Cli) -> None:
    batch = aws.server.client()
    make_environment(batch, "cli-logs-ce", queue="cli-logs-q")
    aws(
        "register-job-definition", "--job-definition-name", "cli-logs", "--type", "container",
        "--container-properties",
        json.dumps({"image": "busybox", "vcpus": 1, "memory": 64,
                    "command": ["sh", "-c", "echo hello from batchd; echo ERROR something broke"]}),
    )  # fmt: skip
    job_id = aws(
        "submit-job", "--job-name", "l", "--job-queue", "cli-logs-q", "--job-definition", "cli-logs"
    )["jobId"]
    stream = wait_status(batch, job_id)["container"]["logStreamName"]
    group = ["--log-group-name", "/aws/batch/job"]
    events = aws.logs("get-log-events", *group, "--log-stream-name", stream, "--start-from-head")["events"]
    assert [e["message"] for e in events] == ["hello from batchd", "ERROR something broke"]
    found = aws.logs(
        "filter-log-events", *group, "--log-stream-name-prefix", "cli-logs/", "--filter-pattern", "ERROR"
    )
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [
        (stream, "ERROR something broke")
    ]
    streams = aws.logs("describe-log-streams", *group, "--log-stream-name-prefix", "cli-logs/")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    stderr = aws.fails("get-log-events", *group, "--log-stream-name", "cli-logs/default/none", service="logs")
    assert "ResourceNotFoundException" in stderr and "log stream does not exist" in stderr


def test_aws_logs_tail(aws: Cli) -> None:
    """`aws logs tail` (CLI v2 only) reads with FilterLogEvents."""
    v2 = aws_v2_executable()
    if v2 is None:
        pytest.skip(
            "no AWS CLI v2 here (`apt-get install awscli` on Debian 12), and v1 has no `aws logs tail`"
        )
    aws.executable = v2
    batch = aws.server.client()
    make_environment(batch, "cli-tail-ce", queue="cli-tail-q")
    definition = batch.register_job_definition(
        jobDefinitionName="cli-tail",
        type="container",
        containerProperties={
            "image": "busybox",
            "vcpus": 1,
            "memory": 64,
            "command": ["echo", "tailed line"],
        },
    )["jobDefinitionArn"]
    job_id = batch.submit_job(jobName="t", jobQueue="cli-tail-q", jobDefinition=definition)["jobId"]
    stream = wait_status(batch, job_id)["container"]["logStreamName"]
    result = aws.run(
        "tail", "/aws/batch/job", "--log-stream-names", stream, "--since", "1h", "--format", "short",
        service="logs",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "tailed line" in result.stdout


def test_aws_logs_tail_follow_shows_a_running_job(aws: Cli, tmp_path: Path) -> None:
    """`aws logs tail --follow` prints a running job's lines as they are written."""
    v2 = aws_v2_executable()
    if v2 is None:
        pytest.skip(
            "no AWS CLI v2 here (`apt-get install awscli` on Debian 12), and v1 has no `aws logs tail`"
        )
    batch = aws.server.client()
    make_environment(batch, "cli-follow-ce", queue="cli-follow-q")
    gate = tmp_path / "gate"
    script = f"echo first-line; while [ ! -f {gate} ]; do sleep 0.05; done; echo second-line"
    definition = batch.register_job_definition(
        jobDefinitionName="cli-follow",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["sh", "-c", script]},
    )["jobDefinitionArn"]
    job_id = batch.submit_job(jobName="f", jobQueue="cli-follow-q", jobDefinition=definition)["jobId"]
    stream = wait_status(batch, job_id, ["RUNNING"])["container"]["logStreamName"]
    follower = subprocess.Popen(
        [v2, "logs", "tail", "/aws/batch/job", "--log-stream-names", stream, "--follow", "--since", "1h",
         "--format", "short", "--endpoint-url", aws.server.endpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=aws.env,
    )  # fmt: skip
    try:
        assert "first-line" in read_until(follower, "first-line")
        gate.write_text("go\n")
        assert "second-line" in read_until(follower, "second-line")
        assert wait_status(batch, job_id)["status"] == "SUCCEEDED"
    finally:
        follower.kill()
        follower.wait()


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 120) -> str:
    """The process's output up to the line holding `text`; fails after `timeout` seconds of silence."""
    assert process.stdout is not None
    seen = ""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while text not in seen:
            if not selector.select(timeout):
                raise AssertionError(f"no {text!r} within {timeout}s; got {seen!r}")
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"the process ended before {text!r}; got {seen!r}")
            seen += line
    return seen

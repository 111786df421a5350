"""Answers that real clients and a peer's test suite found differing from AWS's, driven with boto3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.integration.jobtools import create_ce, create_queue, submit
from tests.support import (
    ACCOUNT,
    REGION,
    Server,
    describe,
    jd_arn,
    module_server,
    output,
    register,
    uniq,
    wait_status,
)

server = module_server()

# A MANAGED environment AWS accepts with no instanceRole: Fargate's.
FARGATE_RESOURCES = {"type": "FARGATE", "maxvCpus": 4, "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]}


def fargate_queue(client: Any) -> tuple[str, str]:
    """A FARGATE environment and a queue on it: (environment name, queue name)."""
    ce, queue = uniq("fargate"), uniq("q")
    client.create_compute_environment(
        computeEnvironmentName=ce, type="MANAGED", computeResources=FARGATE_RESOURCES
    )
    return ce, create_queue(client, queue, [ce])


def disabled_queue(client: Any) -> str:
    """A queue whose environment is DISABLED: every job stays queued, so listing sees them all."""
    ce = uniq("ce")
    create_ce(client, ce, state="DISABLED")
    return create_queue(client, uniq("q"), [ce])


def env_of(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


# --- ListJobs filters ---------------------------------------------------------------------------------


def listed_names(client: Any, queue: str, name: str, value: str) -> list[str]:
    found = client.list_jobs(jobQueue=queue, filters=[{"name": name, "values": [value]}])
    return sorted(s["jobName"] for s in found["jobSummaryList"])


def test_job_name_filter_is_case_insensitive_and_so_is_its_prefix(client: Any) -> None:
    queue = disabled_queue(client)
    jd = uniq("jd")
    register(client, jd, ["true"])
    for name in ("Test1", "test10", "TEST2", "other"):
        submit(client, queue, jd, name=name)
    # AWS: "test1 matches both Test1 and test1, and test1* matches both test1 and Test10".
    assert listed_names(client, queue, "JOB_NAME", "test1") == ["Test1"]
    assert listed_names(client, queue, "JOB_NAME", "tEsT1") == ["Test1"]
    assert listed_names(client, queue, "JOB_NAME", "TEST1*") == ["Test1", "test10"]
    assert listed_names(client, queue, "JOB_NAME", "test*") == ["TEST2", "Test1", "test10"]


def test_job_definition_filter_takes_names_revisions_arns_and_name_prefixes(client: Any) -> None:
    queue = disabled_queue(client)
    stem = uniq("jd")
    first, longer = stem, f"{stem}A"
    register(client, first, ["true"])
    register(client, first, ["false"])
    register(client, longer, ["true"])
    submit(client, queue, f"{first}:1", name="first-1")
    submit(client, queue, first, name="first-2")
    submit(client, queue, longer, name="longer")

    def names(value: str) -> list[str]:
        return listed_names(client, queue, "JOB_DEFINITION", value)

    assert names(first) == ["first-1", "first-2"]
    assert names(f"{first}:2") == ["first-2"]
    assert names(jd_arn(first, 1)) == ["first-1"]
    # AWS: "jd1 matches only jd1, and jd1* matches both jd1 and jd1A"; the value is case-sensitive.
    assert names(f"{stem}*") == ["first-1", "first-2", "longer"]
    assert names(f"{stem}A*") == ["longer"]
    assert names(f"{stem.upper()}*") == []


def test_job_definition_filter_refuses_a_prefix_of_an_arn(client: Any) -> None:
    queue = disabled_queue(client)
    with pytest.raises(client.exceptions.ClientException, match="after a name only"):
        client.list_jobs(
            jobQueue=queue, filters=[{"name": "JOB_DEFINITION", "values": [jd_arn("jd", 1) + "*"]}]
        )


# --- RegisterJobDefinition defaults -------------------------------------------------------------------


def described_definition(client: Any, name: str) -> dict[str, Any]:
    found = client.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
    assert len(found) == 1, found
    return dict(found[0])


def test_registered_container_properties_echo_awss_empty_lists(client: Any) -> None:
    name = uniq("jd")
    client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64},
    )
    container = described_definition(client, name)["containerProperties"]
    for member in (
        "command", "environment", "mountPoints", "resourceRequirements", "secrets", "ulimits", "volumes",
    ):  # fmt: skip
        assert container[member] == [], member
    assert "fargatePlatformConfiguration" not in container


def test_a_fargate_definition_gets_the_latest_platform_version(client: Any) -> None:
    props = {
        "image": "busybox",
        "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/exec",
    }
    latest, pinned = uniq("fargate"), uniq("pinned")
    for name, extra in (
        (latest, {}),
        (pinned, {"fargatePlatformConfiguration": {"platformVersion": "1.4.0"}}),
    ):
        client.register_job_definition(
            jobDefinitionName=name,
            type="container",
            platformCapabilities=["FARGATE"],
            containerProperties={**props, **extra},
        )
    latest_container = described_definition(client, latest)["containerProperties"]
    assert latest_container["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    pinned_container = described_definition(client, pinned)["containerProperties"]
    assert pinned_container["fargatePlatformConfiguration"] == {"platformVersion": "1.4.0"}


def test_evaluate_on_exit_actions_come_back_lower_case(client: Any) -> None:
    name = uniq("jd")
    rules = [{"onExitCode": "3", "action": "EXIT"}, {"onReason": "*", "action": "Retry"}]
    register(client, name, ["true"])
    client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64},
        retryStrategy={"attempts": 2, "evaluateOnExit": rules},
    )
    strategy = client.describe_job_definitions(jobDefinitions=[f"{name}:2"])["jobDefinitions"][0][
        "retryStrategy"
    ]
    assert [r["action"] for r in strategy["evaluateOnExit"]] == ["exit", "retry"]
    assert strategy["evaluateOnExit"][0]["onExitCode"] == "3"


# --- CreateComputeEnvironment -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["EC2", "SPOT"])
def test_an_ec2_or_spot_environment_needs_an_instance_role(client: Any, kind: str) -> None:
    name = uniq("ce")
    with pytest.raises(client.exceptions.ClientException, match="instanceRole is required"):
        client.create_compute_environment(
            computeEnvironmentName=name, type="MANAGED", computeResources={"type": kind, "maxvCpus": 2}
        )
    assert client.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"] == []


def test_a_fargate_environment_needs_no_instance_role(client: Any) -> None:
    ce, _ = fargate_queue(client)
    found = client.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"]
    assert found[0]["status"] == "VALID"
    assert "instanceRole" not in found[0]["computeResources"]


# --- What a job sees, and its attempts ----------------------------------------------------------------


def test_a_job_gets_the_variables_ecs_gives_every_task(server: Server, client: Any) -> None:
    ce = uniq("ce")
    create_ce(client, ce)
    queue = create_queue(client, uniq("q"), [ce])
    jd = uniq("env")
    register(client, jd, ["env"], environment=[{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}])
    done = wait_status(client, submit(client, queue, jd))
    assert done["status"] == "SUCCEEDED", done
    seen = env_of(output(server, done["jobId"]))
    assert seen["AWS_EXECUTION_ENV"] == "AWS_ECS_EC2"
    assert seen["AWS_REGION"] == REGION
    # The definition's own value wins, as it does on ECS; Batch's variables are still there.
    assert seen["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert seen["AWS_BATCH_JOB_ID"] == done["jobId"]


def test_a_job_on_fargate_is_told_so(server: Server, client: Any) -> None:
    _, queue = fargate_queue(client)
    jd = uniq("env")
    client.register_job_definition(
        jobDefinitionName=jd,
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "busybox",
            "command": ["env"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
            "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/exec",
        },
    )
    done = wait_status(client, submit(client, queue, jd))
    assert done["status"] == "SUCCEEDED", done
    seen = env_of(output(server, done["jobId"]))
    assert seen["AWS_EXECUTION_ENV"] == "AWS_ECS_FARGATE"
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == REGION


def test_attempts_name_their_container_instance_and_network_interfaces(client: Any) -> None:
    ce = uniq("ce")
    create_ce(client, ce)
    queue = create_queue(client, uniq("q"), [ce])
    jd = uniq("jd")
    register(client, jd, ["true"])
    done = wait_status(client, submit(client, queue, jd))
    (attempt,) = done["attempts"]
    container = attempt["container"]
    assert container["containerInstanceArn"].startswith(
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{ce}/"
    )
    assert container["networkInterfaces"] == []
    assert container["taskArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/")


# --- ARNs in other partitions -------------------------------------------------------------------------


@pytest.fixture(params=[("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")], ids=["china", "govcloud"])
def regional(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    """A server in a region outside the commercial partition: (client, region, partition)."""
    region, partition = request.param
    with Server(tmp_path / "data", ["--executor", "local", "--region", region]) as srv:
        client = boto3.client(
            "batch",
            endpoint_url=srv.endpoint,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )
        yield client, region, partition


def test_arns_use_the_partition_of_the_region(regional: tuple[Any, str, str]) -> None:
    client, region, partition = regional
    prefix = f"arn:{partition}:batch:{region}:{ACCOUNT}:"
    ce_arn = create_ce(client, "ce")
    assert ce_arn == f"{prefix}compute-environment/ce"
    (detail,) = client.describe_compute_environments(computeEnvironments=[ce_arn])["computeEnvironments"]
    assert detail["ecsClusterArn"].startswith(f"arn:{partition}:ecs:{region}:{ACCOUNT}:cluster/ce_Batch_")
    queue_arn = client.create_job_queue(
        jobQueueName="q", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}]
    )["jobQueueArn"]
    assert queue_arn == f"{prefix}job-queue/q"
    jd = register(client, "jd", ["true"])
    assert jd == f"{prefix}job-definition/jd:1"
    job = client.submit_job(jobName="j", jobQueue=queue_arn, jobDefinition=jd)
    assert job["jobArn"] == f"{prefix}job/{job['jobId']}"
    done = wait_status(client, job["jobId"])
    assert done["jobQueue"] == queue_arn and done["jobDefinition"] == jd
    assert done["attempts"][0]["container"]["taskArn"].startswith(
        f"arn:{partition}:ecs:{region}:{ACCOUNT}:task/"
    )
    client.tag_resource(resourceArn=queue_arn, tags={"team": "data"})
    assert client.list_tags_for_resource(resourceArn=queue_arn)["tags"] == {"team": "data"}
    # An ARN of the commercial partition names nothing here.
    assert describe(client, job["jobId"])["jobArn"].startswith(prefix)
    wrong = f"arn:aws:batch:{region}:{ACCOUNT}:compute-environment/ce"
    assert client.describe_compute_environments(computeEnvironments=[wrong])["computeEnvironments"] == []

"""TagResource, UntagResource, ListTagsForResource on /v1/tags/{resourceArn}: one set of tags per resource,
shown alike by the Describe operations, with AWS's limits (docs/api.md, Tags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import (
    ACCOUNT,
    REGION,
    describe,
    make_environment,
    module_server,
    register,
    uniq,
    wait_status,
)

server = module_server()


def error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ClientException"
    return str(response["Error"]["Message"])


@pytest.fixture(scope="module")
def world(server: Any) -> dict[str, str]:
    client = server.client()
    ce, queue = uniq("tag-ce"), uniq("tag-q")
    make_environment(client, ce, queue=queue, tags={"team": "a"})
    definition = register(client, uniq("tag-jd"), ["true"])
    job = client.submit_job(jobName="tagged", jobQueue=queue, jobDefinition=definition, tags={"run": "1"})
    environment = client.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]
    queue_arn = client.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["jobQueueArn"]
    return {
        "ce": environment["computeEnvironmentArn"],
        "queue": queue,
        "jq": queue_arn,
        "jd": definition,
        "job": job["jobArn"],
        "job_id": job["jobId"],
    }


def tags_of(client: Any, arn: str) -> dict[str, str]:
    return dict(client.list_tags_for_resource(resourceArn=arn)["tags"])


def test_tags_given_at_create_are_listed(client: Any, world: dict[str, str]) -> None:
    assert tags_of(client, world["ce"]) == {"team": "a"}
    assert tags_of(client, world["jq"]) == {}
    assert tags_of(client, world["job"]) == {"run": "1"}


@pytest.mark.parametrize("kind", ["ce", "jq", "jd", "job"])
def test_tag_and_untag_each_kind_show_in_describe(client: Any, world: dict[str, str], kind: str) -> None:
    arn = world[kind]
    before = tags_of(client, arn)
    client.tag_resource(resourceArn=arn, tags={"k1": "v1", "k2": "v2"})
    client.tag_resource(resourceArn=arn, tags={"k2": "changed"})
    assert tags_of(client, arn) == {**before, "k1": "v1", "k2": "changed"}
    assert described_tags(client, world, kind) == {**before, "k1": "v1", "k2": "changed"}
    # Two keys in one DELETE: tagKeys repeated in the query string; a key not there is ignored.
    client.untag_resource(resourceArn=arn, tagKeys=["k1", "k2", "absent"])
    assert tags_of(client, arn) == before
    assert described_tags(client, world, kind) == before


def described_tags(client: Any, world: dict[str, str], kind: str) -> dict[str, str]:
    if kind == "ce":
        found = client.describe_compute_environments(computeEnvironments=[world["ce"]])["computeEnvironments"]
    elif kind == "jq":
        found = client.describe_job_queues(jobQueues=[world["jq"]])["jobQueues"]
    elif kind == "jd":
        found = client.describe_job_definitions(jobDefinitions=[world["jd"]])["jobDefinitions"]
    else:
        found = [describe(client, world["job_id"])]
    return dict(found[0].get("tags") or {})


def test_limits_and_errors(client: Any, world: dict[str, str]) -> None:
    arn = world["jq"]
    too_many = {f"key{i}": "v" for i in range(51)}
    assert "50" in error(client.tag_resource, resourceArn=arn, tags=too_many)
    # 50 in one request are fine; one more on top is not, and nothing of that request is kept.
    client.tag_resource(resourceArn=arn, tags={f"key{i}": "v" for i in range(50)})
    assert "50" in error(client.tag_resource, resourceArn=arn, tags={"one-more": "v"})
    assert len(tags_of(client, arn)) == 50
    client.untag_resource(resourceArn=arn, tagKeys=[f"key{i}" for i in range(50)])
    assert tags_of(client, arn) == {}
    assert "128" in error(client.tag_resource, resourceArn=arn, tags={"k" * 129: "v"})
    assert "256" in error(client.tag_resource, resourceArn=arn, tags={"k": "v" * 257})
    assert "aws:" in error(client.tag_resource, resourceArn=arn, tags={"aws:owner": "me"})
    assert tags_of(client, arn) == {}


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/no-such-queue",
        f"arn:aws:batch:{REGION}:999999999999:job-queue/no-such-queue",
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job/00000000-0000-0000-0000-000000000000",
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/nothing:1",
        f"arn:aws:batch:{REGION}:{ACCOUNT}:no-such-kind/x",
        f"arn:aws:s3:::bucket/{ACCOUNT}",
    ],
)
def test_unknown_arns_are_client_errors(client: Any, arn: str) -> None:
    assert "does not exist" in error(client.list_tags_for_resource, resourceArn=arn)
    assert "does not exist" in error(client.tag_resource, resourceArn=arn, tags={"a": "b"})
    assert "does not exist" in error(client.untag_resource, resourceArn=arn, tagKeys=["a"])


def test_a_definition_arn_needs_its_revision_and_children_are_not_taggable(
    client: Any, world: dict[str, str]
) -> None:
    without_revision = world["jd"].rsplit(":", 1)[0]
    assert "revision" in error(client.list_tags_for_resource, resourceArn=without_revision)
    child = f"{world['job']}:3"
    assert "array job" in error(client.tag_resource, resourceArn=child, tags={"a": "b"})
    assert "must be an ARN" in error(client.list_tags_for_resource, resourceArn="not-an-arn")


def test_the_executor_tag_cannot_change(client: Any, world: dict[str, str]) -> None:
    assert "cannot be changed" in error(
        client.tag_resource, resourceArn=world["ce"], tags={"batchd:executor": "docker"}
    )
    assert tags_of(client, world["ce"]) == {"team": "a"}


def test_tags_set_while_a_job_waits_and_runs_survive_its_moves(client: Any, tmp_path: Path) -> None:
    # One vCPU: the second job waits RUNNABLE (held by the scheduler) while the first runs.
    queue = make_environment(client, uniq("tag-one"), max_vcpus=1, queue=uniq("tag-one-q"))
    release = tmp_path / "release"
    waits = ["sh", "-c", f"while [ ! -e {release} ]; do sleep 0.05; done"]
    definition = register(client, uniq("tag-wait"), waits)
    first = client.submit_job(jobName="first", jobQueue=queue, jobDefinition=definition)["jobId"]
    wait_status(client, first, ["RUNNING"], timeout=60)
    second = client.submit_job(jobName="second", jobQueue=queue, jobDefinition=definition)["jobId"]
    wait_status(client, second, ["RUNNABLE"], timeout=60)
    arns = {job_id: describe(client, job_id)["jobArn"] for job_id in (first, second)}
    for job_id, arn in arns.items():
        client.tag_resource(resourceArn=arn, tags={"set": job_id})
    release.touch()
    for job_id, arn in arns.items():
        assert wait_status(client, job_id, timeout=60)["status"] == "SUCCEEDED"
        assert tags_of(client, arn) == {"set": job_id}
        assert describe(client, job_id)["tags"] == {"set": job_id}

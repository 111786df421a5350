"""Create/Describe/Update/DeleteComputeEnvironment against a real server (docs/api.md, Compute
environments)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.support import ACCOUNT, REGION, ce_arn, module_server, uniq

server = module_server()


def managed(client, name: str, max_vcpus: int = 4, **kwargs):  # type: ignore[no-untyped-def]
    resources = {
        "type": "EC2",
        "instanceRole": "ecsInstanceRole",
        "minvCpus": 0,
        "maxvCpus": max_vcpus,
        **kwargs.pop("resources", {}),
    }
    return client.create_compute_environment(
        computeEnvironmentName=name, type="MANAGED", computeResources=resources, **kwargs
    )


def describe_one(client, reference: str):  # type: ignore[no-untyped-def]
    found = client.describe_compute_environments(computeEnvironments=[reference])["computeEnvironments"]
    assert len(found) == 1, found
    return found[0]


def names_present(client, *names: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = client.describe_compute_environments(computeEnvironments=list(names))["computeEnvironments"]
    return [ce["computeEnvironmentName"] for ce in found]


def test_create_returns_name_and_arn_with_the_account(client):  # type: ignore[no-untyped-def]
    name = uniq("ce")
    created = managed(client, name)
    assert created["computeEnvironmentName"] == name
    assert created["computeEnvironmentArn"] == ce_arn(name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["ResponseMetadata"]["RequestId"]


def test_describe_shows_a_valid_healthy_environment_with_every_member_echoed(client):  # type: ignore[no-untyped-def]
    name = uniq("full")
    resources = {
        "type": "SPOT",
        "minvCpus": 1,
        "maxvCpus": 8,
        "desiredvCpus": 2,
        "instanceTypes": ["optimal"],
        "subnets": ["subnet-1"],
        "securityGroupIds": ["sg-1"],
        "instanceRole": "ecsInstanceRole",
        "ec2KeyPair": "key",
        "bidPercentage": 50,
        "spotIamFleetRole": "arn:aws:iam::123456789012:role/fleet",
        "tags": {"Name": "worker"},
    }
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources=resources,
        serviceRole="arn:aws:iam::123456789012:role/AWSBatchServiceRole",
        tags={"team": "data", "cost": "42"},
    )
    detail = describe_one(client, name)
    assert detail["computeEnvironmentName"] == name
    assert detail["computeEnvironmentArn"] == ce_arn(name)
    assert re.fullmatch(
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}_Batch_[0-9a-f-]+", detail["ecsClusterArn"]
    )
    assert detail["type"] == "MANAGED"
    assert detail["state"] == "ENABLED"
    assert detail["status"] == "VALID"
    assert detail["statusReason"] == "ComputeEnvironment Healthy"
    assert detail["serviceRole"] == "arn:aws:iam::123456789012:role/AWSBatchServiceRole"
    assert detail["tags"] == {"team": "data", "cost": "42"}
    for key, value in resources.items():
        assert detail["computeResources"][key] == value, key


def test_describe_accepts_the_arn_as_well_as_the_name(client):  # type: ignore[no-untyped-def]
    name = uniq("byarn")
    managed(client, name)
    assert describe_one(client, ce_arn(name))["computeEnvironmentName"] == name


def test_min_vcpus_defaults_to_zero_and_type_is_always_reported(client):  # type: ignore[no-untyped-def]
    name = uniq("nomin")
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 2},
    )
    resources = describe_one(client, name)["computeResources"]
    assert resources["minvCpus"] == 0
    assert resources["maxvCpus"] == 2
    assert resources["type"] == "EC2"


def test_without_a_service_role_the_service_linked_role_is_shown(client: Any) -> None:
    name = uniq("norole")
    managed(client, name)
    linked = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    assert describe_one(client, name)["serviceRole"] == linked
    given, with_role = f"arn:aws:iam::{ACCOUNT}:role/MyBatchRole", uniq("role")
    managed(client, with_role, serviceRole=given)
    assert describe_one(client, with_role)["serviceRole"] == given


def test_unmanaged_environment_echoes_unmanaged_vcpus(client):  # type: ignore[no-untyped-def]
    name = uniq("unmanaged")
    created = client.create_compute_environment(
        computeEnvironmentName=name, type="UNMANAGED", unmanagedvCpus=3
    )
    assert created["computeEnvironmentArn"] == ce_arn(name)
    detail = describe_one(client, name)
    assert detail["type"] == "UNMANAGED"
    assert detail["unmanagedvCpus"] == 3
    assert detail["status"] == "VALID"
    assert detail["ecsClusterArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/")


def test_created_disabled_stays_disabled(client):  # type: ignore[no-untyped-def]
    name = uniq("disabled")
    managed(client, name, state="DISABLED")
    detail = describe_one(client, name)
    assert detail["state"] == "DISABLED"
    assert detail["status"] == "VALID"


def test_duplicate_name_is_refused_and_the_original_is_unchanged(client):  # type: ignore[no-untyped-def]
    name = uniq("dup")
    managed(client, name, max_vcpus=4)
    with pytest.raises(client.exceptions.ClientException, match="Object already exists"):
        managed(client, name, max_vcpus=16)
    assert describe_one(client, name)["computeResources"]["maxvCpus"] == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"type": "MANAGED"}, id="managed-without-computeResources"),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 0},
            },
            id="maxvCpus-0",
        ),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0},
            },
            id="no-maxvCpus",
        ),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {
                    "type": "EC2",
                    "instanceRole": "ecsInstanceRole",
                    "minvCpus": 5,
                    "maxvCpus": 2,
                },
            },
            id="min-above-max",
        ),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {
                    "type": "EC2",
                    "instanceRole": "ecsInstanceRole",
                    "minvCpus": -1,
                    "maxvCpus": 2,
                },
            },
            id="negative-min",
        ),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {
                    "type": "EC2",
                    "instanceRole": "ecsInstanceRole",
                    "minvCpus": 0,
                    "maxvCpus": 2,
                    "desiredvCpus": 3,
                },
            },
            id="desired-above-max",
        ),
        pytest.param(
            {
                "type": "MANAGED",
                "computeResources": {
                    "type": "SPOT",
                    "instanceRole": "ecsInstanceRole",
                    "maxvCpus": 2,
                    "bidPercentage": 101,
                },
            },
            id="bid-above-100",
        ),
    ],
)
def test_invalid_environments_are_refused_and_not_created(client, loose, kwargs):  # type: ignore[no-untyped-def]
    name = uniq("bad")
    with pytest.raises(client.exceptions.ClientException) as caught:
        loose.create_compute_environment(computeEnvironmentName=name, **kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert caught.value.response["Error"]["Message"]
    assert names_present(client, name) == []


@pytest.mark.parametrize("bad_name", ["a" * 129, "has space", "dots.not.allowed", "slash/no", ""])
def test_invalid_names_are_refused(client, loose, bad_name):  # type: ignore[no-untyped-def]
    with pytest.raises(loose.exceptions.ClientException):
        managed(loose, bad_name)
    if bad_name:
        assert names_present(client, bad_name) == []


def test_a_name_of_128_characters_with_hyphens_and_underscores_is_accepted(client):  # type: ignore[no-untyped-def]
    name = ("A_b-" + uuid.uuid4().hex) * 4
    name = name[:128]
    managed(client, name)
    assert describe_one(client, name)["computeEnvironmentName"] == name


def test_describe_keeps_request_order_and_skips_unknown_entries(client):  # type: ignore[no-untyped-def]
    first, second, third = uniq("o1"), uniq("o2"), uniq("o3")
    for name in (first, second, third):
        managed(client, name)
    found = client.describe_compute_environments(
        computeEnvironments=[third, "no-such-environment", ce_arn(first), second]
    )["computeEnvironments"]
    assert [ce["computeEnvironmentName"] for ce in found] == [third, first, second]


def test_an_arn_of_another_account_or_type_names_nothing(client):  # type: ignore[no-untyped-def]
    name = uniq("foreign")
    managed(client, name)
    other_account = f"arn:aws:batch:{REGION}:999999999999:compute-environment/{name}"
    wrong_type = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}"
    assert names_present(client, other_account, wrong_type) == []
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.update_compute_environment(computeEnvironment=other_account, state="DISABLED")
    assert describe_one(client, name)["state"] == "ENABLED"


def test_describe_without_a_list_includes_every_environment(client):  # type: ignore[no-untyped-def]
    mine = {uniq("all") for _ in range(3)}
    for name in mine:
        managed(client, name)
    listed = [
        ce["computeEnvironmentName"] for ce in client.describe_compute_environments()["computeEnvironments"]
    ]
    assert mine <= set(listed)
    assert len(listed) == len(set(listed))


def test_describe_more_than_100_names_is_refused(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException):
        client.describe_compute_environments(computeEnvironments=[f"ce{i}" for i in range(101)])
    assert client.describe_compute_environments(computeEnvironments=[f"ce{i}" for i in range(100)])


def test_update_merges_compute_resources_partially(client):  # type: ignore[no-untyped-def]
    name = uniq("merge")
    managed(
        client,
        name,
        max_vcpus=8,
        resources={"minvCpus": 1, "desiredvCpus": 2, "instanceTypes": ["m5.large"], "subnets": ["subnet-a"]},
    )
    updated = client.update_compute_environment(computeEnvironment=name, computeResources={"maxvCpus": 16})
    assert updated["computeEnvironmentName"] == name
    assert updated["computeEnvironmentArn"] == ce_arn(name)
    detail = describe_one(client, name)
    assert detail["computeResources"]["maxvCpus"] == 16
    assert detail["computeResources"]["minvCpus"] == 1
    assert detail["computeResources"]["desiredvCpus"] == 2
    assert detail["computeResources"]["instanceTypes"] == ["m5.large"]
    assert detail["computeResources"]["subnets"] == ["subnet-a"]
    assert detail["computeResources"]["type"] == "EC2"
    assert detail["status"] == "VALID"
    assert detail["statusReason"] == "ComputeEnvironment Healthy"
    assert detail["state"] == "ENABLED"


def test_update_by_arn_changes_state_and_service_role(client):  # type: ignore[no-untyped-def]
    name = uniq("state")
    managed(client, name)
    client.update_compute_environment(
        computeEnvironment=ce_arn(name), state="DISABLED", serviceRole="arn:aws:iam::123456789012:role/new"
    )
    detail = describe_one(client, name)
    assert detail["state"] == "DISABLED"
    assert detail["serviceRole"] == "arn:aws:iam::123456789012:role/new"
    client.update_compute_environment(computeEnvironment=name, state="ENABLED")
    assert describe_one(client, name)["state"] == "ENABLED"


def test_update_echoes_later_members(client):  # type: ignore[no-untyped-def]
    name = uniq("later")
    client.create_compute_environment(computeEnvironmentName=name, type="UNMANAGED", unmanagedvCpus=2)
    client.update_compute_environment(
        computeEnvironment=name,
        unmanagedvCpus=6,
        updatePolicy={"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
    )
    detail = describe_one(client, name)
    assert detail["unmanagedvCpus"] == 6
    assert detail["updatePolicy"] == {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30}


def test_update_that_would_make_resources_inconsistent_is_refused_and_changes_nothing(client):  # type: ignore[no-untyped-def]
    name = uniq("incons")
    managed(client, name, max_vcpus=4, resources={"minvCpus": 2})
    with pytest.raises(client.exceptions.ClientException):
        client.update_compute_environment(computeEnvironment=name, computeResources={"maxvCpus": 1})
    with pytest.raises(client.exceptions.ClientException):
        client.update_compute_environment(
            computeEnvironment=name, state="DISABLED", computeResources={"desiredvCpus": 9}
        )
    detail = describe_one(client, name)
    assert detail["computeResources"]["maxvCpus"] == 4
    assert detail["computeResources"]["minvCpus"] == 2
    assert "desiredvCpus" not in detail["computeResources"]
    assert detail["state"] == "ENABLED"


def test_update_unknown_environment_does_not_exist(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.update_compute_environment(computeEnvironment=uniq("ghost"), state="DISABLED")


def test_delete_requires_disabled_then_removes_the_environment(client):  # type: ignore[no-untyped-def]
    name = uniq("del")
    managed(client, name)
    with pytest.raises(client.exceptions.ClientException, match="(?i)disable"):
        client.delete_compute_environment(computeEnvironment=name)
    assert describe_one(client, name)["state"] == "ENABLED"
    client.update_compute_environment(computeEnvironment=name, state="DISABLED")
    assert (
        client.delete_compute_environment(computeEnvironment=ce_arn(name))["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )
    assert names_present(client, name) == []
    all_names = [
        ce["computeEnvironmentName"] for ce in client.describe_compute_environments()["computeEnvironments"]
    ]
    assert name not in all_names
    # The name is free again.
    managed(client, name)
    assert describe_one(client, name)["status"] == "VALID"


def test_delete_refused_while_a_queue_uses_the_environment(client):  # type: ignore[no-untyped-def]
    name, queue = uniq("inuse"), uniq("q")
    managed(client, name)
    client.create_job_queue(
        jobQueueName=queue, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}]
    )
    client.update_compute_environment(computeEnvironment=name, state="DISABLED")
    with pytest.raises(
        client.exceptions.ClientException, match="Cannot delete, found existing JobQueue relationship"
    ):
        client.delete_compute_environment(computeEnvironment=name)
    assert describe_one(client, name)["computeEnvironmentName"] == name
    client.update_job_queue(jobQueue=queue, state="DISABLED")
    client.delete_job_queue(jobQueue=queue)
    client.delete_compute_environment(computeEnvironment=name)
    assert names_present(client, name) == []


def test_delete_unknown_environment_does_not_exist(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.delete_compute_environment(computeEnvironment=uniq("ghost"))

"""domain/arns: ARNs in the partition of the region, and references by name or ARN."""

from __future__ import annotations

import pytest

from batchd.domain.arns import Scope, partition_of, scope_of_arn


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_the_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_arns_and_references_use_the_scopes_partition() -> None:
    scope = Scope("cn-north-1", "123456789012")
    arn = scope.job_queue_arn("q")
    assert arn == "arn:aws-cn:batch:cn-north-1:123456789012:job-queue/q"
    assert scope.name_from(arn, "job-queue") == "q"
    assert scope.name_from("arn:aws:batch:cn-north-1:123456789012:job-queue/q", "job-queue") is None
    assert scope.arn("task", "t1", service="ecs") == "arn:aws-cn:ecs:cn-north-1:123456789012:task/t1"


def test_the_scope_of_an_arn() -> None:
    assert scope_of_arn("arn:aws-us-gov:batch:us-gov-west-1:210987654321:job/j") == Scope(
        "us-gov-west-1", "210987654321"
    )

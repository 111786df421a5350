"""domain/containers: containerProperties as registered, containerOverrides as submitted."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.containers import (
    check_container_overrides,
    check_container_properties,
    job_container,
    registered_container,
)
from batchd.errors import ClientException

PROPS: dict[str, Any] = {"image": "busybox", "vcpus": 1, "memory": 64}
LISTS = ("command", "environment", "mountPoints", "resourceRequirements", "secrets", "ulimits", "volumes")


def test_registration_fills_awss_empty_lists_and_keeps_given_ones() -> None:
    registered = registered_container({**PROPS, "command": ["echo"]}, ["EC2"])
    assert registered["command"] == ["echo"]
    assert all(registered[m] == [] for m in LISTS if m != "command")
    assert "fargatePlatformConfiguration" not in registered


def test_registration_leaves_its_input_alone() -> None:
    given = {**PROPS, "environment": [{"name": "A", "value": "1"}]}
    registered_container(given, ["FARGATE"])
    assert given == {**PROPS, "environment": [{"name": "A", "value": "1"}]}


@pytest.mark.parametrize(
    ("given", "version"),
    [({}, "LATEST"), ({"fargatePlatformConfiguration": {"platformVersion": "1.4.0"}}, "1.4.0")],
)
def test_a_fargate_definition_has_a_platform_version(given: dict[str, Any], version: str) -> None:
    registered = registered_container({**PROPS, **given}, ["FARGATE"])
    assert registered["fargatePlatformConfiguration"] == {"platformVersion": version}


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"vcpus": 1, "memory": 64}, "containerProperties.image is required"),
        ({**PROPS, "memory": 2}, "memory must be at least 4 MiB"),
        ({**PROPS, "environment": [{"name": "AWS_BATCH_X", "value": "1"}]}, "is reserved"),
        ({**PROPS, "command": ["a\x00b"]}, "must not contain NUL"),
        ({**PROPS, "mountPoints": [{"sourceVolume": "v", "containerPath": "/x"}]}, "names no volume"),
    ],
)
def test_bad_container_properties_are_refused(container: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientException, match=message):
        check_container_properties(container)


def test_overrides_are_checked_alone_and_the_merged_container_as_a_whole() -> None:
    with pytest.raises(ClientException, match="containerOverrides vcpus must be greater than 0"):
        check_container_overrides({"vcpus": 0})
    check_container_overrides({"memory": 128})
    definition = {"containerProperties": {"image": "busybox", "command": ["echo", "Ref::w"]}}
    with pytest.raises(ClientException, match="The job's container must give vcpus"):
        job_container(definition, {}, {})
    container = job_container(definition, {"vcpus": 2, "memory": 128}, {"w": "hi"})
    assert (container["vcpus"], container["memory"], container["command"]) == (2, 128, ["echo", "hi"])

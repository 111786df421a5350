"""Register/Describe/DeregisterJobDefinition against a real server (docs/api.md, Job definitions)."""

from __future__ import annotations

import pytest

from tests.support import jd_arn, make_environment, module_server, register, uniq

server = module_server("--min-timeout-seconds", "1")


@pytest.fixture(scope="module")
def queue(server):  # type: ignore[no-untyped-def]
    """A queue whose only environment is DISABLED: submitted jobs wait as RUNNABLE and never run."""
    client = server.client()
    make_environment(client, name="jd-hold-ce", queue="jd-hold-q", max_vcpus=1)
    client.update_compute_environment(computeEnvironment="jd-hold-ce", state="DISABLED")
    return "jd-hold-q"


def describe_one(client, reference: str):  # type: ignore[no-untyped-def]
    found = client.describe_job_definitions(jobDefinitions=[reference])["jobDefinitions"]
    assert len(found) == 1, found
    return found[0]


def revisions(client, name: str, status: str | None = None) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    kwargs = {"status": status} if status else {}
    found = client.describe_job_definitions(jobDefinitionName=name, **kwargs)["jobDefinitions"]
    return [(d["revision"], d["status"]) for d in found]


def test_register_returns_name_arn_and_revision(client):  # type: ignore[no-untyped-def]
    name = uniq("jd")
    first = client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["true"]},
    )
    assert first["jobDefinitionName"] == name
    assert first["revision"] == 1
    assert first["jobDefinitionArn"] == jd_arn(name, 1)
    second = client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 2, "memory": 64, "command": ["false"]},
    )
    assert second["revision"] == 2
    assert second["jobDefinitionArn"] == jd_arn(name, 2)
    # Older revisions are unchanged.
    assert describe_one(client, f"{name}:1")["containerProperties"]["command"] == ["true"]
    assert describe_one(client, jd_arn(name, 2))["containerProperties"]["vcpus"] == 2
    assert revisions(client, name) == [(1, "ACTIVE"), (2, "ACTIVE")]


def test_describe_echoes_the_definition_and_later_members(client):  # type: ignore[no-untyped-def]
    name = uniq("full")
    container = {
        "image": "busybox:1.36",
        "command": ["echo", "Ref::word"],
        "jobRoleArn": "arn:aws:iam::123456789012:role/job",
        "environment": [{"name": "A", "value": "1"}],
        "volumes": [{"name": "scratch", "host": {"sourcePath": "/tmp"}}],
        "mountPoints": [{"containerPath": "/scratch", "readOnly": False, "sourceVolume": "scratch"}],
        "readonlyRootFilesystem": True,
        "privileged": False,
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "user": "nobody",
        "resourceRequirements": [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "128"}],
    }
    client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        parameters={"word": "hello"},
        containerProperties=container,
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}]},
        timeout={"attemptDurationSeconds": 120},
        propagateTags=True,
        platformCapabilities=["EC2"],
        tags={"team": "data"},
    )
    detail = describe_one(client, f"{name}:1")
    assert detail["jobDefinitionName"] == name
    assert detail["jobDefinitionArn"] == jd_arn(name, 1)
    assert detail["revision"] == 1
    assert detail["type"] == "container"
    assert detail["status"] == "ACTIVE"
    assert detail["parameters"] == {"word": "hello"}
    for key, value in container.items():
        assert detail["containerProperties"][key] == value, key
    assert detail["retryStrategy"]["attempts"] == 3
    # AWS gives the action back lower-case, whatever case it was registered in.
    assert detail["retryStrategy"]["evaluateOnExit"] == [{"onExitCode": "1", "action": "retry"}]
    assert detail["timeout"] == {"attemptDurationSeconds": 120}
    assert detail["propagateTags"] is True
    assert detail["platformCapabilities"] == ["EC2"]
    assert detail["tags"] == {"team": "data"}


def test_resource_requirements_alone_are_enough(client):  # type: ignore[no-untyped-def]
    name = uniq("rr")
    out = client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
        },
    )
    assert out["revision"] == 1


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        pytest.param({"type": "FOO"}, "enum", id="unknown-type"),
        pytest.param({"type": "multinode"}, "multinode", id="multinode"),
        pytest.param({"containerProperties": None}, "no container", id="no-containerProperties"),
        pytest.param({"containerProperties": {"vcpus": 1, "memory": 64}}, "image", id="no-image"),
        pytest.param({"containerProperties": {"image": "busybox", "memory": 64}}, "vcpus", id="no-vcpus"),
        pytest.param({"containerProperties": {"image": "busybox", "vcpus": 0, "memory": 64}}, "vcpus",
                     id="vcpus-0"),
        pytest.param({"containerProperties": {"image": "busybox", "vcpus": 1}}, "memory", id="no-memory"),
        pytest.param({"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 3}}, "memory",
                     id="mem-3"),
        pytest.param(
            {"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 8, "environment": [
                {"name": "AWS_BATCH_JOB_ID", "value": "x"}]}},
            "reserved",
            id="reserved-env",
        ),
        pytest.param(
            {"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 8, "mountPoints": [
                {"containerPath": "/x", "sourceVolume": "nope"}]}},
            "volume",
            id="mount-without-volume",
        ),
        pytest.param(
            {"containerProperties": {"image": "busy box!", "vcpus": 1, "memory": 8}}, "image", id="bad-image"
        ),
        pytest.param({"retryStrategy": {"attempts": 11}}, "attempts", id="attempts-11"),
        pytest.param({"timeout": {"attemptDurationSeconds": 0}}, "timeout", id="timeout-0"),
    ],
)  # fmt: skip
def test_invalid_definitions_are_refused_and_not_registered(client, loose, kwargs, why):  # type: ignore[no-untyped-def]
    name = uniq("bad")
    request = {
        "jobDefinitionName": name,
        "type": "container",
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64},
        **kwargs,
    }
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(loose.exceptions.ClientException) as caught:
        loose.register_job_definition(**request)
    assert caught.value.response["Error"]["Message"], why
    assert revisions(client, name) == []


@pytest.mark.parametrize("bad_name", ["x" * 129, "no spaces", "no:colons", ""])
def test_invalid_definition_names_are_refused(client, loose, bad_name):  # type: ignore[no-untyped-def]
    with pytest.raises(loose.exceptions.ClientException):
        register(loose, bad_name, ["true"])


def test_deregister_by_name_and_revision_makes_it_inactive_but_describable(client, queue):  # type: ignore[no-untyped-def]
    name = uniq("dereg")
    register(client, name, ["true"])
    register(client, name, ["true"])
    out = client.deregister_job_definition(jobDefinition=f"{name}:1")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert revisions(client, name) == [(1, "INACTIVE"), (2, "ACTIVE")]
    assert describe_one(client, jd_arn(name, 1))["status"] == "INACTIVE"
    with pytest.raises(client.exceptions.ClientException, match="does not exist or is not in ACTIVE status"):
        client.submit_job(jobName="j", jobQueue=queue, jobDefinition=f"{name}:1")
    with pytest.raises(client.exceptions.ClientException, match="does not exist or is not in ACTIVE status"):
        client.submit_job(jobName="j", jobQueue=queue, jobDefinition=jd_arn(name, 1))
    # The bare name still resolves to the latest ACTIVE revision.
    job = client.submit_job(jobName="j", jobQueue=queue, jobDefinition=name)
    detail = client.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert detail["jobDefinition"] == jd_arn(name, 2)


def test_deregister_by_arn(client):  # type: ignore[no-untyped-def]
    name = uniq("arn")
    register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=jd_arn(name, 1))
    assert revisions(client, name) == [(1, "INACTIVE")]


def test_deregister_bare_name_deregisters_the_latest_active_revision(client):  # type: ignore[no-untyped-def]
    name = uniq("bare")
    for _ in range(3):
        register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=name)
    assert revisions(client, name) == [(1, "ACTIVE"), (2, "ACTIVE"), (3, "INACTIVE")]
    client.deregister_job_definition(jobDefinition=name)
    assert revisions(client, name) == [(1, "ACTIVE"), (2, "INACTIVE"), (3, "INACTIVE")]


def test_deregister_an_inactive_revision_is_a_successful_no_op(client):  # type: ignore[no-untyped-def]
    name = uniq("twice")
    register(client, name, ["true"])
    register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=f"{name}:1")
    again = client.deregister_job_definition(jobDefinition=f"{name}:1")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert revisions(client, name) == [(1, "INACTIVE"), (2, "ACTIVE")]


@pytest.mark.parametrize("suffix", [":1", ":7", ""])
def test_deregister_unknown_does_not_exist(client, suffix):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.deregister_job_definition(jobDefinition=uniq("ghost") + suffix)


def test_deregister_unknown_revision_of_a_known_name_does_not_exist(client):  # type: ignore[no-untyped-def]
    name = uniq("known")
    register(client, name, ["true"])
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.deregister_job_definition(jobDefinition=f"{name}:2")
    assert revisions(client, name) == [(1, "ACTIVE")]


def test_submit_with_no_active_revision_left_is_refused(client, queue):  # type: ignore[no-untyped-def]
    name = uniq("gone")
    register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=name)
    with pytest.raises(client.exceptions.ClientException, match="does not exist or is not in ACTIVE status"):
        client.submit_job(jobName="j", jobQueue=queue, jobDefinition=name)


def test_revision_numbers_are_never_reused(client):  # type: ignore[no-untyped-def]
    name = uniq("reuse")
    register(client, name, ["true"])
    register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=f"{name}:2")
    assert register_revision(client, name) == 3


def register_revision(client, name: str) -> int:  # type: ignore[no-untyped-def]
    out = client.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 8},
    )
    return int(out["revision"])


def test_describe_filters_by_name_and_status(client):  # type: ignore[no-untyped-def]
    name = uniq("filt")
    for _ in range(3):
        register(client, name, ["true"])
    client.deregister_job_definition(jobDefinition=f"{name}:2")
    assert revisions(client, name, "ACTIVE") == [(1, "ACTIVE"), (3, "ACTIVE")]
    assert revisions(client, name, "INACTIVE") == [(2, "INACTIVE")]
    everything = client.describe_job_definitions()["jobDefinitions"]
    mine = [(d["revision"], d["status"]) for d in everything if d["jobDefinitionName"] == name]
    assert mine == [(1, "ACTIVE"), (2, "INACTIVE"), (3, "ACTIVE")]


def test_describe_by_list_skips_unknown_and_bare_name_gives_all_revisions(client):  # type: ignore[no-untyped-def]
    name, other = uniq("list"), uniq("other")
    register(client, name, ["true"])
    register(client, name, ["true"])
    register(client, other, ["true"])
    found = client.describe_job_definitions(
        jobDefinitions=[jd_arn(other, 1), f"{name}:9", uniq("ghost") + ":1", name]
    )["jobDefinitions"]
    assert [(d["jobDefinitionName"], d["revision"]) for d in found] == [(other, 1), (name, 1), (name, 2)]


def test_describe_list_cannot_be_combined_with_other_filters(client):  # type: ignore[no-untyped-def]
    name = uniq("combo")
    register(client, name, ["true"])
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_definitions(jobDefinitions=[f"{name}:1"], status="ACTIVE")


def test_describe_more_than_100_definitions_is_refused(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_definitions(jobDefinitions=[f"jd{i}:1" for i in range(101)])


def test_describe_unknown_status_is_refused(client, loose):  # type: ignore[no-untyped-def]
    with pytest.raises(loose.exceptions.ClientException):
        loose.describe_job_definitions(status="DELETED")


def test_a_definition_over_24_kib_is_refused(client):  # type: ignore[no-untyped-def]
    name = uniq("huge")
    with pytest.raises(client.exceptions.ClientException):
        register(client, name, ["echo", "x" * (25 * 1024)])
    assert revisions(client, name) == []
    register(client, name, ["echo", "x" * (20 * 1024)])
    assert revisions(client, name) == [(1, "ACTIVE")]

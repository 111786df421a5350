"""SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob on a real server (docs/api.md, Jobs; The job's
container and environment; Decisions where AWS is silent)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.integration.jobtools import submit
from tests.support import (
    ACCOUNT,
    REGION,
    describe,
    jd_arn,
    jq_arn,
    module_server,
    register,
    uniq,
    wait_for,
    wait_status,
)

QUEUED = ("SUBMITTED", "PENDING", "RUNNABLE")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


server = module_server("--stop-grace-seconds", "2", "--min-timeout-seconds", "1")


def new_queue(client, max_vcpus: int = 4, ce_state: str = "ENABLED") -> str:  # type: ignore[no-untyped-def]
    """A fresh environment and queue. A DISABLED environment keeps every job waiting as RUNNABLE."""
    ce, queue = uniq("ce"), uniq("q")
    client.create_compute_environment(
        computeEnvironmentName=ce,
        type="MANAGED",
        state=ce_state,
        computeResources={
            "type": "EC2",
            "instanceRole": "ecsInstanceRole",
            "minvCpus": 0,
            "maxvCpus": max_vcpus,
        },
    )
    client.create_job_queue(
        jobQueueName=queue, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}]
    )
    return queue


def definition(client, command: list[str], **kwargs) -> str:  # type: ignore[no-untyped-def]
    name = uniq("jd")
    register(client, name, command, **kwargs)
    return name


def listed(client, queue: str, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [s["jobId"] for s in client.list_jobs(jobQueue=queue, **kwargs)["jobSummaryList"]]


def newest_first(client, ids: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """ListJobs order as docs/api.md, ListJobs, defines it: createdAt descending, ties by jobId."""
    jobs = client.describe_jobs(jobs=ids)["jobs"]
    return [j["jobId"] for j in sorted(jobs, key=lambda j: (-j["createdAt"], j["jobId"]))]


# --- SubmitJob / DescribeJobs -----------------------------------------------------------------------------


def test_submit_returns_a_uuid_and_describe_shows_the_job(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["echo", "hi"])
    before = int(time.time() * 1000)
    out = client.submit_job(jobName="first-job", jobQueue=queue, jobDefinition=jd)
    after = int(time.time() * 1000)
    assert UUID.fullmatch(out["jobId"])
    assert out["jobName"] == "first-job"
    assert out["jobArn"] == f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{out['jobId']}"
    job = describe(client, out["jobId"])
    assert job["jobId"] == out["jobId"]
    assert job["jobName"] == "first-job"
    assert job["jobQueue"] == jq_arn(queue)
    assert job["jobDefinition"] == jd_arn(jd, 1)
    assert job["status"] in QUEUED
    assert before - 1000 <= job["createdAt"] <= after + 1000
    assert job["dependsOn"] == []
    assert job["parameters"] == {}
    assert job["container"]["image"] == "busybox:latest"
    assert job["container"]["command"] == ["echo", "hi"]
    assert job["container"]["vcpus"] == 1
    assert job["container"]["memory"] == 64
    assert "startedAt" not in job
    assert "stoppedAt" not in job
    assert "exitCode" not in job["container"]


def test_job_definition_may_be_a_name_a_revision_or_an_arn(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["echo", "one"])
    register(client, jd, ["echo", "two"])
    register(client, jd, ["echo", "three"])
    cases = {
        jd: 3,
        f"{jd}:1": 1,
        jd_arn(jd, 2): 2,
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{jd}": 3,
    }
    for reference, revision in cases.items():
        job = describe(client, submit(client, queue, reference))
        assert job["jobDefinition"] == jd_arn(jd, revision), reference
        assert job["container"]["command"] == ["echo", ["one", "two", "three"][revision - 1]]


def test_queue_may_be_given_by_arn(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    assert describe(client, submit(client, jq_arn(queue), jd))["jobQueue"] == jq_arn(queue)


def test_a_job_runs_to_success_with_times_and_exit_code(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client)
    jd = definition(client, ["sh", "-c", "echo hi"])
    done = wait_status(client, submit(client, queue, jd))
    assert done["status"] == "SUCCEEDED"
    assert done["container"]["exitCode"] == 0
    assert done["statusReason"] == "Essential container in task exited"
    assert done["createdAt"] <= done["startedAt"] <= done["stoppedAt"]
    assert done["attempts"] and done["attempts"][-1]["container"]["exitCode"] == 0
    assert done["container"]["logStreamName"]


def test_parameters_are_merged_and_substituted_into_the_command(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = uniq("params")
    client.register_job_definition(
        jobDefinitionName=jd,
        type="container",
        parameters={"a": "1", "b": "2"},
        containerProperties={
            "image": "busybox",
            "vcpus": 1,
            "memory": 32,
            "command": ["echo", "Ref::a", "Ref::b", "Ref::missing", "xRef::a", "Ref::a-not"],
        },
    )
    job = describe(client, submit(client, queue, jd, parameters={"b": "20", "c": "3"}))
    assert job["parameters"] == {"a": "1", "b": "20", "c": "3"}
    assert job["container"]["command"] == ["echo", "1", "20", "Ref::missing", "xRef::a", "Ref::a-not"]


def test_overrides_merge_environment_replace_command_and_substitute_it(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(
        client,
        ["echo", "original"],
        environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    )
    job = describe(
        client,
        submit(
            client,
            queue,
            jd,
            parameters={"word": "substituted"},
            containerOverrides={
                "command": ["echo", "Ref::word"],
                "environment": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            },
        ),
    )
    assert job["container"]["command"] == ["echo", "substituted"]
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env == {"A": "1", "B": "3", "C": "4"}


def test_overrides_really_change_what_runs(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client)
    jd = definition(
        client,
        ["sh", "-c", "exit 0"],
        environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    )
    script = 'test "$A" = 1 && test "$B" = 3 && test "$C" = 4 && exit 7'
    job = submit(
        client,
        queue,
        jd,
        parameters={"script": script},
        containerOverrides={
            "command": ["sh", "-c", "Ref::script"],
            "environment": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        },
    )
    done = wait_status(client, job)
    assert done["status"] == "FAILED"
    assert done["container"]["exitCode"] == 7


def test_deprecated_vcpus_and_memory_overrides(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = describe(client, submit(client, queue, jd, containerOverrides={"vcpus": 3, "memory": 300}))
    assert job["container"]["vcpus"] == 3
    assert job["container"]["memory"] == 300


def test_resource_requirement_overrides(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = describe(
        client,
        submit(
            client,
            queue,
            jd,
            containerOverrides={
                "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "512"}]
            },
        ),
    )
    assert job["container"]["vcpus"] == 2
    assert job["container"]["memory"] == 512
    requirements = {r["type"]: r["value"] for r in job["container"]["resourceRequirements"]}
    assert requirements == {"VCPU": "2", "MEMORY": "512"}


def test_a_vcpu_override_bigger_than_the_environment_keeps_the_job_runnable(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, max_vcpus=1)
    jd = definition(client, ["true"])
    job = submit(client, queue, jd, containerOverrides={"vcpus": 2})
    held = wait_for(
        lambda: (lambda j: j if "MISCONFIGURATION" in j.get("statusReason", "") else None)(
            describe(client, job)
        ),
        what="the misfit reason",
    )
    assert held["status"] == "RUNNABLE"
    client.cancel_job(jobId=job, reason="cleanup")


def test_later_submit_members_are_echoed(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = uniq("later")
    client.register_job_definition(
        jobDefinitionName=jd,
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 16},
        tags={"from": "definition"},
    )
    job = describe(
        client,
        submit(
            client,
            queue,
            jd,
            retryStrategy={"attempts": 2},
            timeout={"attemptDurationSeconds": 90},
            propagateTags=True,
            tags={"from": "job", "extra": "yes"},
        ),
    )
    assert job["retryStrategy"]["attempts"] == 2
    assert job["timeout"] == {"attemptDurationSeconds": 90}
    assert job["propagateTags"] is True
    assert job["tags"] == {"from": "job", "extra": "yes"}


def test_empty_collections_are_accepted(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = describe(client, submit(client, queue, jd, dependsOn=[], parameters={}, containerOverrides={}))
    assert job["dependsOn"] == []


def test_depends_on_is_echoed_and_unknown_dependencies_are_refused(client, loose):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    first = submit(client, queue, jd)
    second = submit(client, queue, jd, dependsOn=[{"jobId": first}, {"jobId": first}])
    assert describe(client, second)["dependsOn"] == [{"jobId": first}]
    assert wait_status(client, second, ["PENDING"])["status"] == "PENDING"
    ghost = str(uuid.uuid4())
    before = listed(client, queue, filters=[{"name": "JOB_NAME", "values": ["orphan"]}])
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        submit(client, queue, jd, name="orphan", dependsOn=[{"jobId": ghost}])
    with pytest.raises(client.exceptions.ClientException):
        submit(client, queue, jd, name="orphan", dependsOn=[{"jobId": "not a valid id!"}])
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, name="orphan", dependsOn=[{}])
    assert listed(client, queue, filters=[{"name": "JOB_NAME", "values": ["orphan"]}]) == before == []


def test_submit_errors(client, loose):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    with pytest.raises(client.exceptions.ClientException, match="Job name should match valid pattern"):
        submit(client, queue, jd, name="-starts-with-hyphen")
    with pytest.raises(client.exceptions.ClientException, match="Job name should match valid pattern"):
        submit(client, queue, jd, name="x" * 129)
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        submit(client, uniq("no-queue"), jd)
    with pytest.raises(client.exceptions.ClientException, match="does not exist or is not in ACTIVE status"):
        submit(client, queue, uniq("no-definition"))
    with pytest.raises(client.exceptions.ClientException, match="does not exist or is not in ACTIVE status"):
        submit(client, queue, f"{jd}:2")
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, containerOverrides={"vcpus": 0})
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, containerOverrides={"memory": 2})
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, containerOverrides={"environment": [{"name": "AWS_BATCH_X", "value": "1"}]})
    for size in (1, 10_001, 0, -1):
        with pytest.raises(loose.exceptions.ClientException, match="between 2 and 10,000"):
            submit(loose, queue, jd, arrayProperties={"size": size})
    assert listed(client, queue, filters=[{"name": "JOB_NAME", "values": ["*"]}]) == []


def test_describe_jobs_keeps_request_order_and_skips_unknown_ids(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    a, b, c = (submit(client, queue, jd, name=n) for n in ("a", "b", "c"))
    found = client.describe_jobs(jobs=[c, str(uuid.uuid4()), a, b])["jobs"]
    assert [j["jobId"] for j in found] == [c, a, b]
    assert [j["jobName"] for j in found] == ["c", "a", "b"]
    assert client.describe_jobs(jobs=[str(uuid.uuid4())])["jobs"] == []


def test_describe_jobs_with_an_empty_list_returns_no_jobs(client):  # type: ignore[no-untyped-def]
    out = client.describe_jobs(jobs=[])
    assert out["jobs"] == []
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_describe_jobs_limits(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException):
        client.describe_jobs(jobs=[str(uuid.uuid4()) for _ in range(101)])
    assert client.describe_jobs(jobs=[str(uuid.uuid4()) for _ in range(100)])["jobs"] == []
    with pytest.raises(client.exceptions.ClientException):
        client.describe_jobs(jobs=["not a job id!"])
    with pytest.raises(client.exceptions.ClientException):
        client.describe_jobs(jobs=["x" * 129])


# --- ListJobs ---------------------------------------------------------------------------------------------


def test_list_jobs_defaults_to_running_and_filters_by_status(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, max_vcpus=4)
    sleeper = definition(client, ["sleep", "30"])
    quick = definition(client, ["true"])
    huge = definition(client, ["true"], vcpus=8)
    done = submit(client, queue, quick, name="done")
    wait_status(client, done, ["SUCCEEDED"])
    running = [submit(client, queue, sleeper, name=f"run{i}") for i in range(2)]
    stuck = submit(client, queue, huge, name="stuck")
    try:
        for job in running:
            wait_status(client, job, ["RUNNING"])
        wait_status(client, stuck, ["RUNNABLE"])
        assert listed(client, queue) == newest_first(client, running)
        assert listed(client, jq_arn(queue), jobStatus="RUNNING") == newest_first(client, running)
        assert listed(client, queue, jobStatus="RUNNABLE") == [stuck]
        assert listed(client, queue, jobStatus="SUCCEEDED") == [done]
        assert listed(client, queue, jobStatus="FAILED") == []
        summary = client.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"][0]
        assert summary["jobName"] == "done"
        assert summary["status"] == "SUCCEEDED"
        assert summary["container"]["exitCode"] == 0
    finally:
        for job in [*running, stuck]:
            client.terminate_job(jobId=job, reason="test over")
    for job in running:
        ended = wait_status(client, job, ["FAILED"])
        assert ended["statusReason"] == "test over"
        assert ended["stoppedAt"] >= ended["startedAt"]
    assert listed(client, queue) == []
    assert set(listed(client, queue, jobStatus="FAILED")) == {*running, stuck}


def test_list_jobs_errors(client, loose):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.list_jobs(jobQueue=uniq("nope"))
    with pytest.raises(loose.exceptions.ClientException):
        loose.list_jobs(jobQueue=new_queue(client), jobStatus="DONE")
    with pytest.raises(loose.exceptions.ClientException):
        loose.list_jobs()


def test_list_jobs_filters(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd_a = definition(client, ["true"])
    jd_b = definition(client, ["true"])
    register(client, jd_b, ["false"])
    ids: dict[str, str] = {}
    stamps: dict[str, int] = {}
    for name, jd in (("alpha-1", jd_a), ("alpha-2", f"{jd_b}:1"), ("beta-1", jd_b), ("alpha", jd_a)):
        ids[name] = submit(client, queue, jd, name=name)
        stamp = stamps[name] = describe(client, ids[name])["createdAt"]
        # Distinct creation times make the time filters below unambiguous.
        wait_for(lambda stamp=stamp: int(time.time() * 1000) > stamp, what="the clock to move")
    client.cancel_job(jobId=ids["beta-1"], reason="cancelled for the test")

    def names(*filters: tuple[str, str], **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
        found = listed(client, queue, filters=[{"name": n, "values": [v]} for n, v in filters], **kwargs)
        by_id = {v: k for k, v in ids.items()}
        return [by_id[i] for i in found]

    # Filters return every status (the cancelled beta-1 included), newest first; jobStatus is ignored.
    assert names(("JOB_NAME", "*")) == ["alpha", "beta-1", "alpha-2", "alpha-1"]
    assert names(("JOB_NAME", "alpha*"), jobStatus="SUCCEEDED") == ["alpha", "alpha-2", "alpha-1"]
    assert names(("JOB_NAME", "alpha-*")) == ["alpha-2", "alpha-1"]
    assert names(("JOB_NAME", "alpha")) == ["alpha"]
    assert names(("JOB_NAME", "beta-1")) == ["beta-1"]
    assert names(("JOB_NAME", "gamma*")) == []
    assert names(("JOB_DEFINITION", jd_a)) == ["alpha", "alpha-1"]
    assert names(("JOB_DEFINITION", jd_b)) == ["beta-1", "alpha-2"]
    assert names(("JOB_DEFINITION", f"{jd_b}:1")) == ["alpha-2"]
    assert names(("JOB_DEFINITION", jd_arn(jd_b, 2))) == ["beta-1"]
    middle = stamps["alpha-2"]
    assert names(("AFTER_CREATED_AT", str(middle))) == ["alpha", "beta-1"]
    assert names(("BEFORE_CREATED_AT", str(middle))) == ["alpha-1"]
    assert names(
        ("AFTER_CREATED_AT", str(stamps["alpha-1"])), ("BEFORE_CREATED_AT", str(stamps["alpha"]))
    ) == [
        "beta-1",
        "alpha-2",
    ]
    assert names(("JOB_NAME", "alpha*"), ("AFTER_CREATED_AT", str(middle))) == ["alpha"]


def test_list_jobs_filter_errors(client, loose):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    with pytest.raises(loose.exceptions.ClientException):
        loose.list_jobs(jobQueue=queue, filters=[{"name": "COLOUR", "values": ["red"]}])
    with pytest.raises(loose.exceptions.ClientException):
        loose.list_jobs(jobQueue=queue, filters=[{"name": "AFTER_CREATED_AT", "values": ["yesterday"]}])


# --- CancelJob / TerminateJob -----------------------------------------------------------------------------


def test_cancel_a_queued_job(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = submit(client, queue, jd)
    wait_status(client, job, ["RUNNABLE"])
    out = client.cancel_job(jobId=job, reason="no longer needed")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    detail = describe(client, job)
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == "no longer needed"
    assert "startedAt" not in detail


def test_cancelling_a_job_fails_its_dependents(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    parent = submit(client, queue, jd)
    child = submit(client, queue, jd, dependsOn=[{"jobId": parent}])
    client.cancel_job(jobId=parent, reason="stop")
    assert wait_status(client, child, ["FAILED"])["status"] == "FAILED"


def test_terminate_a_queued_job(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = submit(client, queue, jd)
    client.terminate_job(jobId=job, reason="terminated while queued")
    detail = describe(client, job)
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == "terminated while queued"


def test_cancel_leaves_a_running_job_running_and_terminate_stops_it(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client)
    jd = definition(client, ["sleep", "30"])
    job = submit(client, queue, jd)
    try:
        wait_status(client, job, ["RUNNING"])
        assert client.cancel_job(jobId=job, reason="too late")["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert describe(client, job)["status"] == "RUNNING"
    finally:
        client.terminate_job(jobId=job, reason="stopped by the test")
    ended = wait_status(client, job, ["SUCCEEDED", "FAILED"])
    assert ended["status"] == "FAILED"
    assert ended["statusReason"] == "stopped by the test"
    assert ended["stoppedAt"] > 0


def test_cancel_and_terminate_of_a_finished_job_change_nothing(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client)
    jd = definition(client, ["true"])
    job = submit(client, queue, jd)
    done = wait_status(client, job)
    assert done["status"] == "SUCCEEDED"
    assert client.cancel_job(jobId=job, reason="late")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.terminate_job(jobId=job, reason="later")["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = describe(client, job)
    assert after["status"] == "SUCCEEDED"
    assert after["statusReason"] == done["statusReason"]
    assert after["stoppedAt"] == done["stoppedAt"]
    assert after["container"]["exitCode"] == 0


def test_cancel_and_terminate_of_a_failed_job_keep_its_reason(client):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = submit(client, queue, jd)
    client.cancel_job(jobId=job, reason="first reason")
    client.cancel_job(jobId=job, reason="second reason")
    client.terminate_job(jobId=job, reason="third reason")
    assert describe(client, job)["statusReason"] == "first reason"


@pytest.mark.parametrize("operation", ["cancel_job", "terminate_job"])
def test_unknown_job_does_not_exist(client, operation):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        getattr(client, operation)(jobId=str(uuid.uuid4()), reason="whatever")


@pytest.mark.parametrize("operation", ["cancel_job", "terminate_job"])
def test_empty_or_overlong_reason_is_refused(client, operation):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    job = submit(client, queue, jd)
    for reason in ("", "x" * 1025):
        with pytest.raises(client.exceptions.ClientException):
            getattr(client, operation)(jobId=job, reason=reason)
    assert describe(client, job)["status"] in QUEUED


def test_submit_limits(client, loose):  # type: ignore[no-untyped-def]
    queue = new_queue(client, ce_state="DISABLED")
    jd = definition(client, ["true"])
    with pytest.raises(client.exceptions.ClientException):
        submit(client, queue, jd, name="too-big", parameters={"blob": "x" * (31 * 1024)})
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, name="too-short", timeout={"attemptDurationSeconds": 0})
    with pytest.raises(loose.exceptions.ClientException):
        submit(loose, queue, jd, name="too-many", retryStrategy={"attempts": 11})
    assert listed(client, queue, filters=[{"name": "JOB_NAME", "values": ["too*"]}]) == []
    longest = "J" + "x" * 127
    assert describe(client, submit(client, queue, jd, name=longest))["jobName"] == longest

"""Create/Describe/Update/DeleteJobQueue against a real server (docs/api.md, Job queues)."""

from __future__ import annotations

import pytest

from tests.support import ce_arn, describe, jq_arn, module_server, register, uniq, wait_status

server = module_server()


def environment(client, max_vcpus: int = 4, state: str = "ENABLED") -> str:  # type: ignore[no-untyped-def]
    name = uniq("ce")
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        state=state,
        computeResources={
            "type": "EC2",
            "instanceRole": "ecsInstanceRole",
            "minvCpus": 0,
            "maxvCpus": max_vcpus,
        },
    )
    return name


def queue_on(client, *environments: str, priority: int = 1, **kwargs) -> str:  # type: ignore[no-untyped-def]
    name = uniq("q")
    client.create_job_queue(
        jobQueueName=name,
        priority=priority,
        computeEnvironmentOrder=[
            {"order": i + 1, "computeEnvironment": env} for i, env in enumerate(environments)
        ],
        **kwargs,
    )
    return name


def describe_one(client, reference: str):  # type: ignore[no-untyped-def]
    found = client.describe_job_queues(jobQueues=[reference])["jobQueues"]
    assert len(found) == 1, found
    return found[0]


def queue_names(client, *references: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [q["jobQueueName"] for q in client.describe_job_queues(jobQueues=list(references))["jobQueues"]]


def test_create_and_describe_a_queue(client):  # type: ignore[no-untyped-def]
    first, second = environment(client), environment(client)
    name = uniq("queue")
    created = client.create_job_queue(
        jobQueueName=name,
        priority=7,
        # Out of order, one by name and one by ARN: both are references the server must accept.
        computeEnvironmentOrder=[
            {"order": 2, "computeEnvironment": ce_arn(second)},
            {"order": 1, "computeEnvironment": first},
        ],
        tags={"team": "data"},
    )
    assert created["jobQueueName"] == name
    assert created["jobQueueArn"] == jq_arn(name)
    detail = describe_one(client, name)
    assert detail["jobQueueName"] == name
    assert detail["jobQueueArn"] == jq_arn(name)
    assert detail["state"] == "ENABLED"
    assert detail["status"] == "VALID"
    assert detail["statusReason"] == "JobQueue Healthy"
    assert detail["priority"] == 7
    assert sorted(detail["computeEnvironmentOrder"], key=lambda e: e["order"]) == [
        {"order": 1, "computeEnvironment": ce_arn(first)},
        {"order": 2, "computeEnvironment": ce_arn(second)},
    ]
    assert detail["tags"] == {"team": "data"}
    assert describe_one(client, jq_arn(name))["jobQueueName"] == name


def test_create_disabled_queue(client):  # type: ignore[no-untyped-def]
    name = queue_on(client, environment(client), state="DISABLED")
    assert describe_one(client, name)["state"] == "DISABLED"


def test_a_queue_can_be_created_right_after_its_environment(client):  # type: ignore[no-untyped-def]
    # docs/api.md, Compute environments: the environment is VALID when CreateComputeEnvironment returns.
    for _ in range(5):
        name = queue_on(client, environment(client))
        assert describe_one(client, name)["status"] == "VALID"


def test_duplicate_queue_name_is_refused(client):  # type: ignore[no-untyped-def]
    env = environment(client)
    name = queue_on(client, env, priority=1)
    with pytest.raises(client.exceptions.ClientException, match="Object already exists"):
        client.create_job_queue(
            jobQueueName=name, priority=99, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}]
        )
    assert describe_one(client, name)["priority"] == 1


def test_queue_on_unknown_environment_is_refused_and_not_created(client):  # type: ignore[no-untyped-def]
    name = uniq("orphan")
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.create_job_queue(
            jobQueueName=name,
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": uniq("no-such-ce")}],
        )
    assert queue_names(client, name) == []


def test_queue_with_more_than_three_environments_is_refused(client):  # type: ignore[no-untyped-def]
    envs = [environment(client) for _ in range(4)]
    name = uniq("four")
    with pytest.raises(client.exceptions.ClientException):
        client.create_job_queue(
            jobQueueName=name,
            priority=1,
            computeEnvironmentOrder=[{"order": i, "computeEnvironment": e} for i, e in enumerate(envs)],
        )
    assert queue_names(client, name) == []
    # Three is the limit, not an error.
    three = queue_on(client, *envs[:3])
    assert len(describe_one(client, three)["computeEnvironmentOrder"]) == 3


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([], id="empty"),
        pytest.param(None, id="missing"),
        pytest.param("twice", id="same-environment-twice"),
        pytest.param("same-order", id="duplicate-order"),
    ],
)
def test_bad_environment_orders_are_refused(client, loose, order):  # type: ignore[no-untyped-def]
    first, second = environment(client), environment(client)
    if order == "twice":
        order = [{"order": 1, "computeEnvironment": first}, {"order": 2, "computeEnvironment": ce_arn(first)}]
    elif order == "same-order":
        order = [{"order": 1, "computeEnvironment": first}, {"order": 1, "computeEnvironment": second}]
    name = uniq("badorder")
    kwargs = {} if order is None else {"computeEnvironmentOrder": order}
    with pytest.raises(loose.exceptions.ClientException):
        loose.create_job_queue(jobQueueName=name, priority=1, **kwargs)
    assert queue_names(client, name) == []


def test_negative_priority_and_bad_names_are_refused(client, loose):  # type: ignore[no-untyped-def]
    env = environment(client)
    for name, priority in ((uniq("neg"), -1), ("bad name", 1), ("x" * 129, 1)):
        with pytest.raises(loose.exceptions.ClientException):
            loose.create_job_queue(
                jobQueueName=name,
                priority=priority,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
            )
        assert queue_names(client, name) == []


def test_describe_keeps_request_order_and_skips_unknown(client):  # type: ignore[no-untyped-def]
    env = environment(client)
    a, b, c = (queue_on(client, env) for _ in range(3))
    assert queue_names(client, c, uniq("missing"), jq_arn(a), b) == [c, a, b]
    everything = [q["jobQueueName"] for q in client.describe_job_queues()["jobQueues"]]
    assert {a, b, c} <= set(everything)


def test_update_priority_state_and_environment_order(client):  # type: ignore[no-untyped-def]
    first, second, third = environment(client), environment(client), environment(client)
    name = queue_on(client, first, priority=1)
    updated = client.update_job_queue(
        jobQueue=jq_arn(name),
        priority=50,
        state="DISABLED",
        computeEnvironmentOrder=[
            {"order": 5, "computeEnvironment": third},
            {"order": 2, "computeEnvironment": ce_arn(second)},
        ],
    )
    assert updated["jobQueueName"] == name
    assert updated["jobQueueArn"] == jq_arn(name)
    detail = describe_one(client, name)
    assert detail["priority"] == 50
    assert detail["state"] == "DISABLED"
    assert detail["status"] == "VALID"
    assert detail["statusReason"] == "JobQueue Healthy"
    assert sorted(detail["computeEnvironmentOrder"], key=lambda e: e["order"]) == [
        {"order": 2, "computeEnvironment": ce_arn(second)},
        {"order": 5, "computeEnvironment": ce_arn(third)},
    ]
    # A member left out of the update keeps its value.
    client.update_job_queue(jobQueue=name, state="ENABLED")
    detail = describe_one(client, name)
    assert detail["priority"] == 50
    assert detail["state"] == "ENABLED"
    assert len(detail["computeEnvironmentOrder"]) == 2


def test_update_with_a_bad_environment_order_changes_nothing(client):  # type: ignore[no-untyped-def]
    env = environment(client)
    name = queue_on(client, env, priority=3)
    with pytest.raises(client.exceptions.ClientException):
        client.update_job_queue(
            jobQueue=name,
            priority=9,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": uniq("nope")}],
        )
    detail = describe_one(client, name)
    assert detail["priority"] == 3
    assert detail["computeEnvironmentOrder"] == [{"order": 1, "computeEnvironment": ce_arn(env)}]


def test_update_unknown_queue_does_not_exist(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.update_job_queue(jobQueue=uniq("ghost"), priority=2)


def test_disabled_queue_refuses_new_jobs_and_accepts_them_again_when_enabled(client):  # type: ignore[no-untyped-def]
    name = queue_on(client, environment(client), state="DISABLED")
    definition = uniq("jd")
    register(client, definition, ["sh", "-c", "exit 0"])
    with pytest.raises(client.exceptions.ClientException, match="DISABLED"):
        client.submit_job(jobName="refused", jobQueue=name, jobDefinition=definition)
    listed = client.list_jobs(jobQueue=name, filters=[{"name": "JOB_NAME", "values": ["refused"]}])
    assert listed["jobSummaryList"] == []
    client.update_job_queue(jobQueue=name, state="ENABLED")
    job = client.submit_job(jobName="accepted", jobQueue=name, jobDefinition=definition)
    assert wait_status(client, job["jobId"])["status"] == "SUCCEEDED"


def test_jobs_already_queued_on_a_disabled_queue_still_run(client):  # type: ignore[no-untyped-def]
    env = environment(client, state="DISABLED")
    name = queue_on(client, env)
    definition = uniq("jd")
    register(client, definition, ["sh", "-c", "exit 0"])
    job = client.submit_job(jobName="queued", jobQueue=name, jobDefinition=definition)
    wait_status(client, job["jobId"], ["RUNNABLE"])
    client.update_job_queue(jobQueue=name, state="DISABLED")
    client.update_compute_environment(computeEnvironment=env, state="ENABLED")
    assert wait_status(client, job["jobId"])["status"] == "SUCCEEDED"


def test_delete_requires_disabled_then_removes_the_queue(client):  # type: ignore[no-untyped-def]
    env = environment(client)
    name = queue_on(client, env)
    with pytest.raises(client.exceptions.ClientException, match="(?i)disable"):
        client.delete_job_queue(jobQueue=name)
    assert describe_one(client, name)["state"] == "ENABLED"
    client.update_job_queue(jobQueue=name, state="DISABLED")
    assert client.delete_job_queue(jobQueue=jq_arn(name))["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert queue_names(client, name) == []
    assert name not in [q["jobQueueName"] for q in client.describe_job_queues()["jobQueues"]]
    # The environment is released: it can now be deleted.
    client.update_compute_environment(computeEnvironment=env, state="DISABLED")
    client.delete_compute_environment(computeEnvironment=env)


def test_deleting_a_queue_fails_its_queued_jobs_which_stay_describable(client):  # type: ignore[no-untyped-def]
    # maxvCpus 1 and a 2-vCPU job: the job can never be placed, so it waits as RUNNABLE.
    name = queue_on(client, environment(client, max_vcpus=1))
    definition = uniq("jd")
    register(client, definition, ["sleep", "30"], vcpus=2)
    job = client.submit_job(jobName="stuck", jobQueue=name, jobDefinition=definition)["jobId"]
    wait_status(client, job, ["RUNNABLE"])
    client.update_job_queue(jobQueue=name, state="DISABLED")
    client.delete_job_queue(jobQueue=name)
    ended = wait_status(client, job, ["FAILED"])
    assert ended["statusReason"]
    assert "startedAt" not in ended
    assert describe(client, job)["jobQueue"] == jq_arn(name)


def test_delete_unknown_queue_does_not_exist(client):  # type: ignore[no-untyped-def]
    with pytest.raises(client.exceptions.ClientException, match="does not exist"):
        client.delete_job_queue(jobQueue=uniq("ghost"))


def test_queue_on_an_invalid_environment_is_refused(client):  # type: ignore[no-untyped-def]
    # An environment run by the docker executor is INVALID when no Docker engine answers.
    name = uniq("docker-ce")
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
        tags={"batchd:executor": "docker"},
    )
    detail = client.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"][0]
    if detail["status"] == "VALID":
        pytest.skip("a Docker engine answers here, so the environment is VALID")
    assert detail["status"] == "INVALID"
    assert detail["statusReason"]
    queue = uniq("on-invalid")
    with pytest.raises(client.exceptions.ClientException, match="VALID"):
        client.create_job_queue(
            jobQueueName=queue, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}]
        )
    assert queue_names(client, queue) == []

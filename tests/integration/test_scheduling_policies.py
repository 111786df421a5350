"""Fair-share scheduling policies: their API, the queues that use them, and the share identifiers and
priorities of the jobs submitted to those queues (docs/api.md, Scheduling policies)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCOUNT, REGION, describe, make_environment, module_server, register, uniq

server = module_server()


def sp_arn(name: str) -> str:
    return f"arn:aws:batch:{REGION}:{ACCOUNT}:scheduling-policy/{name}"


def error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ClientException"
    return str(response["Error"]["Message"])


def policy_of(client: Any, arn: str) -> dict[str, Any]:
    found = client.describe_scheduling_policies(arns=[arn])["schedulingPolicies"]
    assert len(found) == 1
    return dict(found[0])


def create_policy(client: Any, **fairshare: Any) -> str:
    name = uniq("sp")
    return str(client.create_scheduling_policy(name=name, fairsharePolicy=fairshare)["arn"])


@pytest.fixture(scope="module")
def world(server: Any) -> dict[str, str]:
    client = server.client()
    ce, fifo = uniq("sp-ce"), uniq("sp-fifo")
    make_environment(client, ce, queue=fifo)
    policy = create_policy(client, shareDistribution=[{"shareIdentifier": "teamA", "weightFactor": 0.5}])
    fair = uniq("sp-fair")
    client.create_job_queue(
        jobQueueName=fair,
        priority=1,
        schedulingPolicyArn=policy,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    # `sleep` keeps the jobs from finishing, so nothing the tests read about them changes under them.
    definition = register(server.client(), uniq("sp-jd"), ["sleep", "30"])
    prioritised = client.register_job_definition(
        jobDefinitionName=uniq("sp-jd-prio"),
        type="container",
        schedulingPriority=7,
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["true"]},
    )["jobDefinitionArn"]
    return {
        "ce": ce,
        "fifo": fifo,
        "fair": fair,
        "policy": policy,
        "jd": definition,
        "jd_prio": prioritised,
    }


# --- the policy API ------------------------------------------------------------------------------------


def test_create_and_describe_fill_aws_defaults(client: Any) -> None:
    name = uniq("sp-bare")
    created = client.create_scheduling_policy(name=name, tags={"team": "a"})
    assert created == {"name": name, "arn": sp_arn(name), "ResponseMetadata": created["ResponseMetadata"]}
    detail = policy_of(client, created["arn"])
    assert detail == {
        "name": name,
        "arn": sp_arn(name),
        "fairsharePolicy": {"shareDecaySeconds": 0, "computeReservation": 0, "shareDistribution": []},
        "tags": {"team": "a"},
    }


def test_a_full_policy_is_shown_as_given(client: Any) -> None:
    shares = [
        {"shareIdentifier": "gpu*", "weightFactor": 0.125},
        {"shareIdentifier": "cpu1", "weightFactor": 999.9999},
        {"shareIdentifier": "cpu2", "weightFactor": 0.0001},
        {"shareIdentifier": "x" * 255},
    ]
    arn = create_policy(client, shareDecaySeconds=604800, computeReservation=99, shareDistribution=shares)
    policy = policy_of(client, arn)["fairsharePolicy"]
    assert policy["shareDecaySeconds"] == 604800 and policy["computeReservation"] == 99
    assert policy["shareDistribution"] == shares


def test_describe_skips_unknown_and_repeated_arns(client: Any) -> None:
    arn = create_policy(client)
    found = client.describe_scheduling_policies(
        arns=[sp_arn("no-such-policy"), arn, arn, "arn:aws:batch:eu-west-1:999999999999:scheduling-policy/x"]
    )["schedulingPolicies"]
    assert [p["arn"] for p in found] == [arn]


def test_a_duplicate_name_is_refused(client: Any) -> None:
    name = uniq("sp-dup")
    client.create_scheduling_policy(name=name, fairsharePolicy={"computeReservation": 10})
    assert "already exists" in error(client.create_scheduling_policy, name=name)
    assert policy_of(client, sp_arn(name))["fairsharePolicy"]["computeReservation"] == 10


BAD_POLICIES: list[tuple[dict[str, Any], str]] = [
    ({"shareDecaySeconds": -1}, "shareDecaySeconds must be an integer from 0 to 604800"),
    ({"shareDecaySeconds": 604801}, "shareDecaySeconds must be an integer from 0 to 604800"),
    ({"computeReservation": 100}, "computeReservation must be an integer from 0 to 99"),
    ({"computeReservation": -5}, "computeReservation must be an integer from 0 to 99"),
    ({"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 0}]}, "weightFactor of share a"),
    ({"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 1000}]}, "0.0001 to 999.9999"),
    ({"shareDistribution": [{"shareIdentifier": ""}]}, "1 to 255 letters"),
    ({"shareDistribution": [{"shareIdentifier": "y" * 256}]}, "1 to 255 letters"),
    ({"shareDistribution": [{"shareIdentifier": "a*b"}]}, "optionally followed by '*'"),
    ({"shareDistribution": [{"shareIdentifier": "a b"}]}, "is invalid"),
    ({"shareDistribution": [{"shareIdentifier": "a"}, {"shareIdentifier": "a"}]}, "more than once"),
    ({"shareDistribution": [{"shareIdentifier": "UserA*"}, {"shareIdentifier": "UserA1"}]}, "overlap"),
    ({"shareDistribution": [{"shareIdentifier": "U*"}, {"shareIdentifier": "User*"}]}, "overlap"),
    ({"shareDistribution": [{"shareIdentifier": f"s{i}"} for i in range(501)]}, "at most 500 entries"),
]


@pytest.mark.parametrize(("policy", "message"), BAD_POLICIES)
def test_bad_policies_are_refused_and_change_nothing(
    client: Any, loose: Any, policy: dict[str, Any], message: str
) -> None:
    name = uniq("sp-bad")
    assert message in error(loose.create_scheduling_policy, name=name, fairsharePolicy=policy)
    assert client.describe_scheduling_policies(arns=[sp_arn(name)])["schedulingPolicies"] == []
    arn = create_policy(client, computeReservation=5)
    assert message in error(loose.update_scheduling_policy, arn=arn, fairsharePolicy=policy)
    assert policy_of(client, arn)["fairsharePolicy"]["computeReservation"] == 5


def test_bad_names_tags_and_members_are_refused(client: Any, loose: Any) -> None:
    assert "1 to 128 letters" in error(loose.create_scheduling_policy, name="has space")
    assert "1 to 128 letters" in error(loose.create_scheduling_policy, name="n" * 129)
    assert "reserved prefix" in error(client.create_scheduling_policy, name=uniq("sp"), tags={"aws:x": "1"})
    assert "quotaSharePolicy is not supported" in error(
        client.create_scheduling_policy,
        name=uniq("sp"),
        quotaSharePolicy={"idleResourceAssignmentStrategy": "FIFO"},
    )


def test_update_replaces_the_fairshare_policy(client: Any) -> None:
    arn = create_policy(client, shareDecaySeconds=60, shareDistribution=[{"shareIdentifier": "a"}])
    client.update_scheduling_policy(arn=arn, fairsharePolicy={"computeReservation": 20})
    assert policy_of(client, arn)["fairsharePolicy"] == {
        "shareDecaySeconds": 0,
        "computeReservation": 20,
        "shareDistribution": [],
    }
    client.update_scheduling_policy(arn=arn)  # nothing given: nothing changes
    assert policy_of(client, arn)["fairsharePolicy"]["computeReservation"] == 20


def test_update_and_delete_need_an_existing_policy_arn(client: Any) -> None:
    name = uniq("sp-gone")
    assert "does not exist" in error(client.update_scheduling_policy, arn=sp_arn(name))
    assert "does not exist" in error(client.delete_scheduling_policy, arn=sp_arn(name))
    client.create_scheduling_policy(name=name)
    # A bare name is not an ARN.
    assert "does not exist" in error(client.delete_scheduling_policy, arn=name)
    client.delete_scheduling_policy(arn=sp_arn(name))
    assert client.describe_scheduling_policies(arns=[sp_arn(name)])["schedulingPolicies"] == []


def test_list_is_paginated_in_name_order(server: Any) -> None:
    client = server.client()
    before = client.get_paginator("list_scheduling_policies").paginate().build_full_result()
    known = {p["arn"] for p in before["schedulingPolicies"]}
    made = sorted(create_policy(client) for _ in range(5))
    pages = list(client.get_paginator("list_scheduling_policies").paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(page["schedulingPolicies"]) <= 2 for page in pages)
    assert all("nextToken" in page for page in pages[:-1]) and "nextToken" not in pages[-1]
    listed = [p["arn"] for page in pages for p in page["schedulingPolicies"]]
    assert listed == sorted(listed) and len(listed) == len(set(listed))
    assert [a for a in listed if a not in known] == made
    assert all(set(p) == {"arn"} for page in pages for p in page["schedulingPolicies"])
    whole = client.list_scheduling_policies(maxResults=1000)
    assert [p["arn"] for p in whole["schedulingPolicies"]] == listed and "nextToken" not in whole


def test_list_refuses_bad_page_sizes_and_tokens(client: Any, loose: Any) -> None:
    assert "maxResults must be between 1 and 1000" in error(loose.list_scheduling_policies, maxResults=0)
    assert "maxResults must be between 1 and 1000" in error(loose.list_scheduling_policies, maxResults=1001)
    assert "nextToken is not valid" in error(client.list_scheduling_policies, nextToken="forged")
    token = client.describe_job_queues(maxResults=1).get("nextToken")
    if token:  # a token of another operation is refused too
        assert "nextToken is not valid" in error(client.list_scheduling_policies, nextToken=token)


def test_tags_through_the_tag_operations(client: Any) -> None:
    name = uniq("sp-tags")
    arn = client.create_scheduling_policy(name=name, tags={"a": "1"})["arn"]
    client.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    client.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert policy_of(client, arn)["tags"] == {"b": "2"}
    assert "reserved prefix" in error(client.tag_resource, resourceArn=arn, tags={"aws:k": "v"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert "does not exist" in error(client.list_tags_for_resource, resourceArn=sp_arn(uniq("none")))


# --- job queues ------------------------------------------------------------------------------------------


def test_a_fair_share_queue_shows_its_policy(client: Any, world: dict[str, str]) -> None:
    queues = client.describe_job_queues(jobQueues=[world["fair"], world["fifo"]])["jobQueues"]
    assert queues[0]["schedulingPolicyArn"] == world["policy"]
    assert "schedulingPolicyArn" not in queues[1]


def test_create_queue_needs_an_existing_policy(client: Any, world: dict[str, str]) -> None:
    name = uniq("sp-q")
    for bad in (
        sp_arn(uniq("missing")),
        "just-a-name",
        f"arn:aws:batch:{REGION}:999999999999:scheduling-policy/x",
    ):
        message = error(
            client.create_job_queue,
            jobQueueName=name,
            priority=1,
            schedulingPolicyArn=bad,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": world["ce"]}],
        )
        assert "schedulingPolicyArn" in message and "does not exist" in message
    assert client.describe_job_queues(jobQueues=[name])["jobQueues"] == []


def test_a_fifo_queue_cannot_get_a_policy(client: Any, world: dict[str, str]) -> None:
    message = error(client.update_job_queue, jobQueue=world["fifo"], schedulingPolicyArn=world["policy"])
    assert "FIFO" in message
    queue = client.describe_job_queues(jobQueues=[world["fifo"]])["jobQueues"][0]
    assert "schedulingPolicyArn" not in queue


def test_a_fair_share_queue_may_switch_but_not_drop_its_policy(client: Any, world: dict[str, str]) -> None:
    name = uniq("sp-switch")
    first, second = create_policy(client), create_policy(client)
    client.create_job_queue(
        jobQueueName=name,
        priority=1,
        schedulingPolicyArn=first,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": world["ce"]}],
    )
    message = error(client.update_job_queue, jobQueue=name, schedulingPolicyArn="")
    assert "not removed" in message
    missing = error(client.update_job_queue, jobQueue=name, schedulingPolicyArn=sp_arn(uniq("missing")))
    assert "does not exist" in missing
    assert client.describe_job_queues(jobQueues=[name])["jobQueues"][0]["schedulingPolicyArn"] == first
    client.update_job_queue(jobQueue=name, schedulingPolicyArn=second)
    assert client.describe_job_queues(jobQueues=[name])["jobQueues"][0]["schedulingPolicyArn"] == second
    # The policy it left may go; the one it uses may not, until the queue is gone.
    client.delete_scheduling_policy(arn=first)
    message = error(client.delete_scheduling_policy, arn=second)
    assert name in message and "uses it" in message
    assert client.describe_scheduling_policies(arns=[second])["schedulingPolicies"]
    client.update_job_queue(jobQueue=name, state="DISABLED")
    client.delete_job_queue(jobQueue=name)
    client.delete_scheduling_policy(arn=second)
    assert client.describe_scheduling_policies(arns=[second])["schedulingPolicies"] == []


# --- jobs --------------------------------------------------------------------------------------------------


def test_a_fair_share_queue_needs_a_share_identifier(client: Any, world: dict[str, str]) -> None:
    message = error(client.submit_job, jobName="noshare", jobQueue=world["fair"], jobDefinition=world["jd"])
    assert "shareIdentifier" in message
    for bad in ("a*", "a b", "z" * 256, ""):
        assert "shareIdentifier" in error(
            client.submit_job,
            jobName="badshare",
            jobQueue=world["fair"],
            jobDefinition=world["jd"],
            shareIdentifier=bad,
        )
    listed = client.list_jobs(jobQueue=world["fair"], filters=[{"name": "JOB_NAME", "values": ["noshare"]}])
    assert listed["jobSummaryList"] == []
    listed = client.list_jobs(jobQueue=world["fair"], filters=[{"name": "JOB_NAME", "values": ["badshare"]}])
    assert listed["jobSummaryList"] == []


def test_a_fifo_queue_refuses_share_identifiers_and_overrides(client: Any, world: dict[str, str]) -> None:
    for extra in ({"shareIdentifier": "teamA"}, {"schedulingPriorityOverride": 3}):
        message = error(
            client.submit_job,
            jobName="fifo-share",
            jobQueue=world["fifo"],
            jobDefinition=world["jd"],
            **extra,
        )
        assert "FIFO" in message and next(iter(extra)) in message
    listed = client.list_jobs(
        jobQueue=world["fifo"], filters=[{"name": "JOB_NAME", "values": ["fifo-share"]}]
    )
    assert listed["jobSummaryList"] == []
    # A definition's schedulingPriority does not keep it off a FIFO queue; it only counts on fair-share ones.
    job = client.submit_job(jobName="fifo-plain", jobQueue=world["fifo"], jobDefinition=world["jd_prio"])
    shown = describe(client, job["jobId"])
    assert "shareIdentifier" not in shown and "schedulingPriority" not in shown


def test_the_effective_priority_is_the_override_else_the_definitions(
    client: Any, world: dict[str, str]
) -> None:
    def submit(definition: str, share: str, **extra: Any) -> dict[str, Any]:
        job = client.submit_job(
            jobName="prio", jobQueue=world["fair"], jobDefinition=definition, shareIdentifier=share, **extra
        )
        return describe(client, job["jobId"])

    plain = submit(world["jd"], "teamA")
    assert (plain["shareIdentifier"], plain["schedulingPriority"]) == ("teamA", 0)
    inherited = submit(world["jd_prio"], "teamB")
    assert (inherited["shareIdentifier"], inherited["schedulingPriority"]) == ("teamB", 7)
    overridden = submit(world["jd_prio"], "teamB", schedulingPriorityOverride=9999)
    assert overridden["schedulingPriority"] == 9999
    assert submit(world["jd"], "teamB", schedulingPriorityOverride=0)["schedulingPriority"] == 0


def test_bad_scheduling_priorities_are_refused(client: Any, loose: Any, world: dict[str, str]) -> None:
    for bad in (-1, 10000):
        message = error(
            loose.submit_job,
            jobName="badprio",
            jobQueue=world["fair"],
            jobDefinition=world["jd"],
            shareIdentifier="teamA",
            schedulingPriorityOverride=bad,
        )
        assert "schedulingPriorityOverride must be an integer from 0 to 9999" in message
        name = uniq("sp-badjd")
        message = error(
            loose.register_job_definition,
            jobDefinitionName=name,
            type="container",
            schedulingPriority=bad,
            containerProperties={"image": "busybox", "vcpus": 1, "memory": 64},
        )
        assert "schedulingPriority must be an integer from 0 to 9999" in message
        assert client.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"] == []
    listed = client.list_jobs(jobQueue=world["fair"], filters=[{"name": "JOB_NAME", "values": ["badprio"]}])
    assert listed["jobSummaryList"] == []


def test_list_jobs_by_share_identifier(client: Any, world: dict[str, str]) -> None:
    ce, queue = world["ce"], uniq("sp-listq")
    client.create_job_queue(
        jobQueueName=queue,
        priority=1,
        schedulingPolicyArn=world["policy"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    ids: dict[str, str] = {}
    for share in ("blue", "blue2", "bluegreen", "red", "Blue"):
        ids[share] = client.submit_job(
            jobName=f"j-{share}", jobQueue=queue, jobDefinition=world["jd"], shareIdentifier=share
        )["jobId"]

    def listed(value: str, **extra: Any) -> set[str]:
        pages = client.get_paginator("list_jobs").paginate(
            jobQueue=queue, filters=[{"name": "SHARE_IDENTIFIER", "values": [value]}], **extra
        )
        return {j["jobId"] for page in pages for j in page["jobSummaryList"]}

    assert listed("blue") == {ids["blue"]}
    assert listed("blue*") == {ids["blue"], ids["blue2"], ids["bluegreen"]}
    assert listed("blue*", PaginationConfig={"PageSize": 1}) == {ids["blue"], ids["blue2"], ids["bluegreen"]}
    assert listed("Blue") == {ids["Blue"]}  # case-sensitive, as share identifiers are
    assert listed("*") == set(ids.values())
    assert listed("green") == set()
    both = client.list_jobs(
        jobQueue=queue,
        filters=[
            {"name": "SHARE_IDENTIFIER", "values": ["blue*"]},
            {"name": "JOB_NAME", "values": ["j-bluegreen"]},
        ],
    )
    assert [j["jobId"] for j in both["jobSummaryList"]] == [ids["bluegreen"]]
    # Jobs of a FIFO queue have no share identifier: the filter finds none of them.
    fifo = client.list_jobs(jobQueue=world["fifo"], filters=[{"name": "SHARE_IDENTIFIER", "values": ["*"]}])
    assert fifo["jobSummaryList"] == []


def test_an_arrays_children_keep_its_share(client: Any, world: dict[str, str]) -> None:
    job = client.submit_job(
        jobName="arr",
        jobQueue=world["fair"],
        jobDefinition=world["jd_prio"],
        shareIdentifier="arrays",
        arrayProperties={"size": 2},
    )
    parent = describe(client, job["jobId"])
    assert (parent["shareIdentifier"], parent["schedulingPriority"]) == ("arrays", 7)
    listed = client.list_jobs(
        jobQueue=world["fair"], filters=[{"name": "SHARE_IDENTIFIER", "values": ["arrays"]}]
    )["jobSummaryList"]
    assert [j["jobId"] for j in listed] == [job["jobId"]]


def test_missing_members_are_refused_by_name(loose: Any) -> None:
    assert "arns" in error(loose.describe_scheduling_policies)
    assert "arn" in error(loose.delete_scheduling_policy)
    assert "shareIdentifier" in error(
        loose.create_scheduling_policy, name=uniq("sp"), fairsharePolicy={"shareDistribution": [{}]}
    )
    assert "shareDecaySeconds" in error(
        loose.create_scheduling_policy, name=uniq("sp"), fairsharePolicy={"shareDecaySeconds": "60"}
    )

"""Edge cases of input that once gave a 5xx or a wrong answer: null environment values, revisions that
do not fit, digits of other scripts, huge times, and DescribeJobDefinitions' duplicates and paging.

Each refused request is a 400 ClientException in AWS's error shape, names the member at fault, and
changes nothing.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any

import pytest

from tests.support import Server, jd_arn, module_server, register, uniq, wait_for, wait_status

server = module_server()

TOO_BIG = "99999999999999999999"  # beyond SQLite's 64-bit integers
NOT_ASCII = ("²", "٣", "３", "1²")
BAD_REVISIONS = (TOO_BIG, "0", "000", str(2**31), "1" + "0" * 40)


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(server: Server, operation: str, body: dict[str, Any]) -> Reply:
    """One raw JSON request, so that nothing on the client side cleans up what is sent."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/" + operation.lower(),
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, response.read())
    finally:
        conn.close()


def refused(reply: Reply, *words: str) -> str:
    """Asserts a 400 ClientException in AWS's shape whose message holds each of `words`."""
    assert reply.status == 400, (reply.status, reply.body[:500])
    assert reply.headers.get("x-amzn-errortype") == "ClientException"
    body = reply.json()
    assert body["__type"] == "ClientException"
    message = str(body["message"])
    assert "Traceback" not in message
    for word in words:
        assert word in message, (word, message)
    return message


def ok(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, (reply.status, reply.body[:500])
    return dict(reply.json())


@pytest.fixture(scope="module")
def queue(server: Server) -> str:
    """A queue on a DISABLED environment: jobs submitted to it stay RUNNABLE and never run."""
    client = server.client()
    client.create_compute_environment(
        computeEnvironmentName="edge-ce",
        type="MANAGED",
        state="DISABLED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2},
    )
    client.create_job_queue(
        jobQueueName="edge-q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "edge-ce"}],
    )
    return "edge-q"


def revisions(server: Server, name: str) -> list[tuple[int, str]]:
    found = server.client().describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
    return [(d["revision"], d["status"]) for d in found]


def jobs_in(server: Server, queue: str) -> list[str]:
    listed = server.client().list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["*"]}])
    return sorted(j["jobId"] for j in listed["jobSummaryList"])


def definition(name: str, **container: Any) -> dict[str, Any]:
    props = {"image": "busybox", "vcpus": 1, "memory": 16, "command": ["true"], **container}
    return {"jobDefinitionName": name, "type": "container", "containerProperties": props}


def with_revisions(server: Server, count: int) -> str:
    name = uniq("edge-jd")
    for _ in range(count):
        register(server.client(), name, ["true"])
    return name


# --- 1. a null environment value ---------------------------------------------------------------------------


def test_register_refuses_a_null_environment_value(server: Server) -> None:
    name = with_revisions(server, 1)
    body = definition(name, environment=[{"name": "A", "value": "1"}, {"name": "B", "value": None}])
    refused(call(server, "RegisterJobDefinition", body), "containerProperties.environment", "'B'", "null")
    assert revisions(server, name) == [(1, "ACTIVE")]


def test_submit_refuses_a_null_environment_override(server: Server, queue: str) -> None:
    name = with_revisions(server, 1)
    before = jobs_in(server, queue)
    body = {
        "jobName": "edge",
        "jobQueue": queue,
        "jobDefinition": name,
        "containerOverrides": {"environment": [{"name": "B", "value": None}]},
    }
    refused(call(server, "SubmitJob", body), "containerOverrides.environment", "'B'", "null")
    assert jobs_in(server, queue) == before


def test_an_environment_entry_without_a_value_is_still_accepted(server: Server, queue: str) -> None:
    """Leaving `value` out is allowed (it is optional); only an explicit null is refused."""
    name = uniq("edge-jd")
    ok(call(server, "RegisterJobDefinition", definition(name, environment=[{"name": "A"}])))
    body = {
        "jobName": "edge",
        "jobQueue": queue,
        "jobDefinition": name,
        "containerOverrides": {"environment": [{"name": "B"}]},
    }
    ok(call(server, "SubmitJob", body))


# --- 2. revisions that no definition could have ------------------------------------------------------------


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_submit_refuses_a_revision_out_of_range(server: Server, queue: str, revision: str) -> None:
    name = with_revisions(server, 1)
    before = jobs_in(server, queue)
    for reference in (f"{name}:{revision}", f"{jd_arn(name, 1)[: -len(':1')]}:{revision}"):
        body = {"jobName": "edge", "jobQueue": queue, "jobDefinition": reference}
        refused(call(server, "SubmitJob", body), "jobDefinition", "revision must be a positive integer")
    assert jobs_in(server, queue) == before


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_deregister_refuses_a_revision_out_of_range(server: Server, revision: str) -> None:
    name = with_revisions(server, 1)
    reply = call(server, "DeregisterJobDefinition", {"jobDefinition": f"{name}:{revision}"})
    refused(reply, "jobDefinition", "revision must be a positive integer")
    assert revisions(server, name) == [(1, "ACTIVE")]


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_describe_finds_nothing_for_a_revision_out_of_range(server: Server, revision: str) -> None:
    """As for any reference that names nothing (an unknown name, `name:abc`): no entry, no error."""
    name = with_revisions(server, 1)
    found = ok(call(server, "DescribeJobDefinitions", {"jobDefinitions": [f"{name}:{revision}"]}))
    assert found["jobDefinitions"] == []
    found = ok(
        call(server, "DescribeJobDefinitions", {"jobDefinitions": [f"{name}:{revision}", f"{name}:1"]})
    )
    assert [d["revision"] for d in found["jobDefinitions"]] == [1]


def test_a_leading_zero_revision_still_names_the_revision(server: Server, queue: str) -> None:
    name = with_revisions(server, 2)
    found = ok(call(server, "DescribeJobDefinitions", {"jobDefinitions": [f"{name}:02"]}))
    assert [d["revision"] for d in found["jobDefinitions"]] == [2]
    top = f"{name}:{2**31 - 1}"
    refused(
        call(server, "SubmitJob", {"jobName": "edge", "jobQueue": queue, "jobDefinition": top}),
        "JobDefinition",
        "does not exist",
    )


def test_list_jobs_refuses_a_definition_revision_out_of_range(server: Server, queue: str) -> None:
    name = with_revisions(server, 1)
    for revision in BAD_REVISIONS:
        body = {"jobQueue": queue, "filters": [{"name": "JOB_DEFINITION", "values": [f"{name}:{revision}"]}]}
        refused(call(server, "ListJobs", body), "JOB_DEFINITION", "revision must be a positive integer")


# --- 3. digits of other scripts are not a revision ---------------------------------------------------------


def test_non_ascii_digits_are_not_a_revision(server: Server, queue: str) -> None:
    """'٣'.isdigit() is true and int('٣') is 3, yet `name:٣` must not mean revision 3 anywhere."""
    name = with_revisions(server, 3)
    client = server.client()
    job = client.submit_job(jobName="edge", jobQueue=queue, jobDefinition=f"{name}:3")["jobId"]
    wait_for(lambda: client.describe_jobs(jobs=[job])["jobs"][0]["status"] == "RUNNABLE")
    before = jobs_in(server, queue)
    for digits in NOT_ASCII:
        reference = f"{name}:{digits}"
        submit = {"jobName": "edge", "jobQueue": queue, "jobDefinition": reference}
        refused(call(server, "SubmitJob", submit), "JobDefinition", "does not exist")
        refused(call(server, "DeregisterJobDefinition", {"jobDefinition": reference}), "JobDefinition")
        found = ok(call(server, "DescribeJobDefinitions", {"jobDefinitions": [reference]}))
        assert found["jobDefinitions"] == []
        listed = ok(
            call(
                server,
                "ListJobs",
                {"jobQueue": queue, "filters": [{"name": "JOB_DEFINITION", "values": [reference]}]},
            )
        )
        assert listed["jobSummaryList"] == []
    assert jobs_in(server, queue) == before
    assert revisions(server, name) == [(1, "ACTIVE"), (2, "ACTIVE"), (3, "ACTIVE")]
    listed = ok(
        call(
            server,
            "ListJobs",
            {"jobQueue": queue, "filters": [{"name": "JOB_DEFINITION", "values": [f"{name}:3"]}]},
        )
    )
    assert [j["jobId"] for j in listed["jobSummaryList"]] == [job]


@pytest.mark.parametrize("value", [*NOT_ASCII, "1_000", " 5", "+5", "-5", "5 ", "1.5", ""])
@pytest.mark.parametrize("filter_name", ["AFTER_CREATED_AT", "BEFORE_CREATED_AT"])
def test_list_jobs_times_must_be_ascii_digits(
    server: Server, queue: str, filter_name: str, value: str
) -> None:
    body = {"jobQueue": queue, "filters": [{"name": filter_name, "values": [value]}]}
    refused(call(server, "ListJobs", body), filter_name, "epoch milliseconds")


def test_resource_requirement_values_must_be_ascii(server: Server, queue: str) -> None:
    name = with_revisions(server, 1)
    before = jobs_in(server, queue)
    for value in ("٣", "２", "1_0", "nan", " 1"):
        requirements = [{"type": "VCPU", "value": value}, {"type": "MEMORY", "value": "16"}]
        body = definition(name, vcpus=None, memory=None, resourceRequirements=requirements)
        refused(call(server, "RegisterJobDefinition", body), "resourceRequirements", "VCPU")
        submit = {
            "jobName": "edge",
            "jobQueue": queue,
            "jobDefinition": name,
            "containerOverrides": {"resourceRequirements": [{"type": "MEMORY", "value": value}]},
        }
        refused(call(server, "SubmitJob", submit), "resourceRequirements", "MEMORY")
    assert revisions(server, name) == [(1, "ACTIVE")]
    assert jobs_in(server, queue) == before


# --- 4. times too large for the store ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1" * 40, str(2**63), "9" * 5000])
@pytest.mark.parametrize("filter_name", ["AFTER_CREATED_AT", "BEFORE_CREATED_AT"])
def test_list_jobs_refuses_a_time_too_large(server: Server, queue: str, filter_name: str, value: str) -> None:
    body = {"jobQueue": queue, "filters": [{"name": filter_name, "values": [value]}]}
    refused(call(server, "ListJobs", body), filter_name, "epoch milliseconds")


@pytest.mark.parametrize("filter_name", ["AFTER_CREATED_AT", "BEFORE_CREATED_AT"])
def test_list_jobs_takes_the_largest_time(server: Server, queue: str, filter_name: str) -> None:
    for value in ("0", str(2**63 - 1)):
        ok(
            call(
                server, "ListJobs", {"jobQueue": queue, "filters": [{"name": filter_name, "values": [value]}]}
            )
        )


# --- 5. DescribeJobDefinitions with jobDefinitions: each revision once, a page at a time -------------------


def described(server: Server, body: dict[str, Any]) -> list[tuple[str, int]]:
    found = ok(call(server, "DescribeJobDefinitions", body))["jobDefinitions"]
    return [(d["jobDefinitionName"], d["revision"]) for d in found]


def two_names(server: Server) -> tuple[str, str]:
    """Two definitions, `first` (3 revisions) sorting before `second` (2 revisions)."""
    first, second = sorted([uniq("edge-jd"), uniq("edge-jd")])
    for name, count in ((second, 2), (first, 3)):
        for _ in range(count):
            register(server.client(), name, ["true"])
    return first, second


def test_describe_names_each_revision_once_in_the_order_asked(server: Server) -> None:
    """In the order of the references (a bare name: all revisions, lowest first), never twice."""
    first, second = two_names(server)
    wanted = [second, first, first, f"{first}:1", jd_arn(first, 2), f"{second}:2", second]
    assert described(server, {"jobDefinitions": wanted}) == [
        (second, 1), (second, 2), (first, 1), (first, 2), (first, 3),
    ]  # fmt: skip
    assert described(server, {"jobDefinitions": [f"{first}:2", first, jd_arn(first, 3)]}) == [
        (first, 2), (first, 1), (first, 3),
    ]  # fmt: skip
    assert described(server, {"jobDefinitions": [first, f"{first}:2", first]}) == [
        (first, 1), (first, 2), (first, 3),
    ]  # fmt: skip


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
def test_describe_with_job_definitions_is_paged(server: Server, size: int) -> None:
    first, second = two_names(server)
    wanted = [second, f"{first}:2", first, f"{second}:1"]
    whole = described(server, {"jobDefinitions": wanted})
    assert whole == [(second, 1), (second, 2), (first, 2), (first, 1), (first, 3)]
    seen: list[tuple[str, int]] = []
    token: str | None = None
    pages = 0
    while True:
        body: dict[str, Any] = {"jobDefinitions": wanted, "maxResults": size}
        if token:
            body["nextToken"] = token
        reply = ok(call(server, "DescribeJobDefinitions", body))
        assert len(reply["jobDefinitions"]) <= size
        seen += [(d["jobDefinitionName"], d["revision"]) for d in reply["jobDefinitions"]]
        pages += 1
        token = reply.get("nextToken")
        if not token:
            break
    assert seen == whole
    assert pages == -(-len(whole) // size)


def test_describe_pages_a_name_with_many_revisions(server: Server) -> None:
    name = with_revisions(server, 103)
    page = ok(call(server, "DescribeJobDefinitions", {"jobDefinitions": [name, name]}))
    assert [d["revision"] for d in page["jobDefinitions"]] == list(range(1, 101))
    rest = ok(
        call(
            server, "DescribeJobDefinitions", {"jobDefinitions": [name, name], "nextToken": page["nextToken"]}
        )
    )
    assert [d["revision"] for d in rest["jobDefinitions"]] == [101, 102, 103]
    assert "nextToken" not in rest


def test_describe_refuses_a_token_from_other_references(server: Server) -> None:
    name = with_revisions(server, 2)
    page = ok(call(server, "DescribeJobDefinitions", {"jobDefinitions": [name], "maxResults": 1}))
    other = {"jobDefinitions": [name, f"{name}:2"], "maxResults": 1, "nextToken": page["nextToken"]}
    refused(call(server, "DescribeJobDefinitions", other), "nextToken")


@pytest.mark.parametrize("size", [0, 101])
def test_describe_with_job_definitions_checks_max_results(server: Server, size: int) -> None:
    name = with_revisions(server, 1)
    body = {"jobDefinitions": [name], "maxResults": size}
    refused(call(server, "DescribeJobDefinitions", body), "maxResults")


# --- 6. users that are no user -----------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="jobs change user only when batchd runs as root")
@pytest.mark.parametrize(
    ("user", "words"),
    [("²", "does not exist"), ("99999999999", "out of range"), ("0:٣", "does not exist")],
)
def test_a_user_of_other_digits_or_out_of_range_fails_the_job_cleanly(
    server: Server, user: str, words: str
) -> None:
    client = server.client()
    name = uniq("edge-ce")
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 2},
    )
    client.create_job_queue(
        jobQueueName=name, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}]
    )
    definition_arn = register(client, uniq("edge-jd"), ["true"], user=user)
    job = client.submit_job(jobName="user", jobQueue=name, jobDefinition=definition_arn)["jobId"]
    ended = wait_status(client, job, timeout=60)
    assert ended["status"] == "FAILED"
    assert words in ended["container"]["reason"], ended["container"]

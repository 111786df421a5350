"""Malformed requests over raw HTTP: a 4xx in AWS's error shape, never a 5xx, never a change (docs/api.md, The
wire; Validation common to every operation)."""

from __future__ import annotations

import copy
import http.client
import json
import uuid
from typing import Any

import botocore.session
import pytest

from tests.support import Server, module_server, register, uniq, wait_for

OPERATIONS = (
    "CreateComputeEnvironment", "DescribeComputeEnvironments", "UpdateComputeEnvironment",
    "DeleteComputeEnvironment", "CreateJobQueue", "DescribeJobQueues", "UpdateJobQueue", "DeleteJobQueue",
    "RegisterJobDefinition", "DescribeJobDefinitions", "DeregisterJobDefinition", "SubmitJob", "DescribeJobs",
    "ListJobs", "CancelJob", "TerminateJob",
)  # fmt: skip
MODEL = botocore.session.get_session().get_service_model("batch")


server = module_server()


@pytest.fixture(scope="module")
def world(server):  # type: ignore[no-untyped-def]
    """An environment (DISABLED, so jobs never run), a queue, a definition and one queued job."""
    client = server.client()
    client.create_compute_environment(
        computeEnvironmentName="bad-ce",
        type="MANAGED",
        state="DISABLED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2},
    )
    client.create_job_queue(
        jobQueueName="bad-q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "bad-ce"}],
    )
    register(client, "bad-jd", ["true"])
    job = client.submit_job(jobName="resident", jobQueue="bad-q", jobDefinition="bad-jd")["jobId"]
    wait_for(lambda: client.describe_jobs(jobs=[job])["jobs"][0]["status"] == "RUNNABLE")
    return {"queue": "bad-q", "definition": "bad-jd", "environment": "bad-ce", "job": job}


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    server: Server,
    path: str,
    body: bytes | str | Any = b"{}",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Response:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def op_path(operation: str) -> str:
    return "/v1/" + operation.lower()


def assert_error(response: Response, status: int = 400, error_type: str = "ClientException") -> str:
    assert response.status == status, (response.status, response.body[:500])
    assert response.headers.get("x-amzn-errortype") == error_type
    assert response.headers.get("content-type", "").startswith("application/json")
    assert response.headers.get("x-amzn-requestid")
    body = response.json()
    assert body["__type"] == error_type
    assert isinstance(body["message"], str) and body["message"].strip()
    assert "Traceback" not in body["message"]
    assert 'File "' not in body["message"]
    return str(body["message"])


def snapshot(client, world) -> Any:  # type: ignore[no-untyped-def]
    """Everything a bad request could have changed."""
    environments = client.describe_compute_environments()["computeEnvironments"]
    queues = client.describe_job_queues()["jobQueues"]
    definitions = client.describe_job_definitions()["jobDefinitions"]
    jobs = client.list_jobs(jobQueue=world["queue"], filters=[{"name": "JOB_NAME", "values": ["*"]}])
    return (
        sorted(json.dumps(e, sort_keys=True) for e in environments),
        sorted(json.dumps(q, sort_keys=True) for q in queues),
        sorted(json.dumps(d, sort_keys=True) for d in definitions),
        sorted(json.dumps(j, sort_keys=True) for j in jobs["jobSummaryList"]),
    )


def submit_body(world, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"jobName": "bad", "jobQueue": world["queue"], "jobDefinition": world["definition"], **changes}


def queue_body(world, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "jobQueueName": f"bq-{uuid.uuid4().hex[:8]}",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": world["environment"]}],
        **changes,
    }


def environment_body(**changes: Any) -> dict[str, Any]:
    return {
        "computeEnvironmentName": f"bce-{uuid.uuid4().hex[:8]}",
        "type": "MANAGED",
        "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2},
        **changes,
    }


def definition_body(**changes: Any) -> dict[str, Any]:
    return {
        "jobDefinitionName": "bad-jd",
        "type": "container",
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 16},
        **changes,
    }


def test_the_valid_bodies_used_below_are_accepted(server, world):  # type: ignore[no-untyped-def]
    """The bad requests below differ from these in one place only, so that place is what is refused."""
    for path, body in (
        ("/v1/submitjob", submit_body(world)),
        ("/v1/createjobqueue", queue_body(world)),
        ("/v1/createcomputeenvironment", environment_body()),
        ("/v1/registerjobdefinition", definition_body()),
        ("/v1/listjobs", {"jobQueue": world["queue"], "maxResults": 100}),
        ("/v1/describejobs", {"jobs": [world["job"]] * 100}),
    ):
        response = send(server, path, body)
        assert response.status == 200, (path, response.body)
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers.get("x-amzn-requestid")
        assert "x-amzn-errortype" not in response.headers
        assert isinstance(response.json(), dict)


def big_member(world) -> bytes:  # type: ignore[no-untyped-def]
    return json.dumps(submit_body(world, tags={"pad": "x" * (1024 * 1024)})).encode()


BAD_REQUESTS = {
    "malformed-json": ("/v1/submitjob", lambda w: b'{"jobName": "bad", "jobQueue": '),
    "trailing-garbage": ("/v1/submitjob", lambda w: json.dumps(submit_body(w)) + "}"),
    "json-array": ("/v1/submitjob", lambda w: json.dumps([submit_body(w)])),
    "empty-json-array": ("/v1/createcomputeenvironment", lambda w: b"[]"),
    "json-string": ("/v1/submitjob", lambda w: b'"submit"'),
    "json-number": ("/v1/createjobqueue", lambda w: b"42"),
    "json-true": ("/v1/registerjobdefinition", lambda w: b"true"),
    "nan": (
        "/v1/createjobqueue",
        lambda w: json.dumps(queue_body(w)).replace('"priority": 1', '"priority": NaN'),
    ),
    "infinity": (
        "/v1/createjobqueue",
        lambda w: json.dumps(queue_body(w)).replace('"priority": 1', '"priority": Infinity'),
    ),
    "deep-nesting": ("/v1/submitjob", lambda w: b'{"parameters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "priority-as-string": ("/v1/createjobqueue", lambda w: queue_body(w, priority="1")),
    "priority-as-bool": ("/v1/createjobqueue", lambda w: queue_body(w, priority=True)),
    "priority-as-float": ("/v1/createjobqueue", lambda w: queue_body(w, priority=1.5)),
    "priority-too-big": ("/v1/createjobqueue", lambda w: queue_body(w, priority=2**31)),
    "order-as-string": (
        "/v1/createjobqueue",
        lambda w: queue_body(
            w, computeEnvironmentOrder=[{"order": "1", "computeEnvironment": w["environment"]}]
        ),
    ),
    "order-not-a-list": (
        "/v1/createjobqueue",
        lambda w: queue_body(w, computeEnvironmentOrder={"order": 1, "computeEnvironment": w["environment"]}),
    ),
    "null-in-list": ("/v1/createjobqueue", lambda w: queue_body(w, computeEnvironmentOrder=[None])),
    "job-name-as-int": ("/v1/submitjob", lambda w: submit_body(w, jobName=5)),
    "parameters-as-list": ("/v1/submitjob", lambda w: submit_body(w, parameters=["a"])),
    "parameter-value-as-int": ("/v1/submitjob", lambda w: submit_body(w, parameters={"a": 1})),
    "command-as-string": (
        "/v1/submitjob",
        lambda w: submit_body(w, containerOverrides={"command": "echo hi"}),
    ),
    "overrides-as-string": ("/v1/submitjob", lambda w: submit_body(w, containerOverrides="x")),
    "missing-job-name": (
        "/v1/submitjob",
        lambda w: {k: v for k, v in submit_body(w).items() if k != "jobName"},
    ),
    "empty-body": ("/v1/submitjob", lambda w: b""),
    "null-body": ("/v1/createjobqueue", lambda w: b"null"),
    "unknown-enum": ("/v1/registerjobdefinition", lambda w: definition_body(type="FOO")),
    "lower-case-enum": ("/v1/createcomputeenvironment", lambda w: environment_body(type="managed")),
    "unknown-state": ("/v1/createjobqueue", lambda w: queue_body(w, state="PAUSED")),
    "unknown-job-status": ("/v1/listjobs", lambda w: {"jobQueue": w["queue"], "jobStatus": "DONE"}),
    "name-129-chars": (
        "/v1/createcomputeenvironment",
        lambda w: environment_body(computeEnvironmentName="a" * 129),
    ),
    "queue-name-129-chars": ("/v1/createjobqueue", lambda w: queue_body(w, jobQueueName="q" * 129)),
    "definition-name-129-chars": (
        "/v1/registerjobdefinition",
        lambda w: definition_body(jobDefinitionName="d" * 129),
    ),
    "job-name-129-chars": ("/v1/submitjob", lambda w: submit_body(w, jobName="j" * 129)),
    "name-with-space": (
        "/v1/createcomputeenvironment",
        lambda w: environment_body(computeEnvironmentName="a b"),
    ),
    "name-with-slash": ("/v1/createjobqueue", lambda w: queue_body(w, jobQueueName="a/b")),
    "name-with-unicode": (
        "/v1/registerjobdefinition",
        lambda w: definition_body(jobDefinitionName="caf\u00e9"),
    ),
    "name-empty": ("/v1/createjobqueue", lambda w: queue_body(w, jobQueueName="")),
    "job-name-leading-underscore": ("/v1/submitjob", lambda w: submit_body(w, jobName="_job")),
    "job-name-with-dot": ("/v1/submitjob", lambda w: submit_body(w, jobName="a.b")),
    "101-job-ids": ("/v1/describejobs", lambda w: {"jobs": [str(uuid.uuid4()) for _ in range(101)]}),
    "101-environments": ("/v1/describecomputeenvironments", lambda w: {"computeEnvironments": ["x"] * 101}),
    "101-queues": ("/v1/describejobqueues", lambda w: {"jobQueues": ["x"] * 101}),
    "101-definitions": ("/v1/describejobdefinitions", lambda w: {"jobDefinitions": ["x:1"] * 101}),
    "malformed-job-id": ("/v1/describejobs", lambda w: {"jobs": ["../../etc/passwd"]}),
    "job-ids-not-a-list": ("/v1/describejobs", lambda w: {"jobs": w["job"]}),
    "max-results-0": ("/v1/listjobs", lambda w: {"jobQueue": w["queue"], "maxResults": 0}),
    "max-results-101": ("/v1/describejobqueues", lambda w: {"maxResults": 101}),
    "max-results-negative": ("/v1/describecomputeenvironments", lambda w: {"maxResults": -5}),
    "max-results-string": ("/v1/describejobdefinitions", lambda w: {"maxResults": "10"}),
    "body-over-1-mib": ("/v1/submitjob", big_member),
    "non-utf8": (
        "/v1/submitjob",
        lambda w: b'{"jobName": "\xff\xfe", "jobQueue": "bad-q", "jobDefinition": "bad-jd"}',
    ),
    "utf16": ("/v1/submitjob", lambda w: json.dumps(submit_body(w)).encode("utf-16")),
    "lone-surrogate": (
        "/v1/submitjob",
        lambda w: json.dumps(submit_body(w)).replace('"bad"', '"\\ud800"', 1),
    ),
    "cancel-without-reason": ("/v1/canceljob", lambda w: {"jobId": w["job"]}),
    "cancel-empty-reason": ("/v1/canceljob", lambda w: {"jobId": w["job"], "reason": ""}),
    "terminate-reason-too-long": ("/v1/terminatejob", lambda w: {"jobId": w["job"], "reason": "r" * 1025}),
    "cancel-malformed-id": ("/v1/canceljob", lambda w: {"jobId": "a b", "reason": "x"}),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_a_400_in_aws_shape_and_changes_nothing(server, client, world, case):  # type: ignore[no-untyped-def]
    path, make = BAD_REQUESTS[case]
    before = snapshot(client, world)
    assert_error(send(server, path, make(world)))
    assert snapshot(client, world) == before
    assert client.describe_jobs(jobs=[world["job"]])["jobs"][0]["status"] == "RUNNABLE"


def test_body_over_1_mib_without_content_length_is_refused(server, client, world):  # type: ignore[no-untyped-def]
    before = snapshot(client, world)
    body = big_member(world)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/submitjob")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 64 * 1024):
            chunk = body[start : start + 64 * 1024]
            try:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            conn.send(b"0\r\n\r\n")
        raw = conn.getresponse()
        response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
    finally:
        conn.close()
    assert_error(response)
    assert snapshot(client, world) == before


def test_a_job_name_error_says_so(server, world):  # type: ignore[no-untyped-def]
    message = assert_error(send(server, "/v1/submitjob", submit_body(world, jobName="-x")))
    assert "Job name should match valid pattern" in message


def test_a_type_error_names_the_member(server, world):  # type: ignore[no-untyped-def]
    message = assert_error(send(server, "/v1/createjobqueue", queue_body(world, priority="high")))
    assert "priority" in message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/nosuchoperation"),
        ("POST", "/v1/tags"),
        ("GET", "/v1/tags/"),
        ("PUT", "/v1/tags/arn:aws:batch:us-east-1:123456789012:job-queue/bad-q"),
        ("GET", "/v1/submitjob"),
        ("PUT", "/v1/createjobqueue"),
        ("DELETE", "/v1/deletejobqueue"),
        ("POST", "/v1/SubmitJob"),
        ("POST", "/v1/submitjob/"),
        ("POST", "/"),
        ("GET", "/"),
        ("POST", "/v2/submitjob"),
    ],
)
def test_unknown_paths_and_methods_are_404_unknown_operation(server, client, world, method, path):  # type: ignore[no-untyped-def]
    before = snapshot(client, world)
    response = send(server, path, submit_body(world), method=method)
    assert_error(response, status=404, error_type="UnknownOperationException")
    assert snapshot(client, world) == before


def test_unknown_members_are_ignored(server, world):  # type: ignore[no-untyped-def]
    response = send(server, "/v1/describejobs", {"jobs": [world["job"]], "fromTheFuture": {"x": [1, 2]}})
    assert response.status == 200
    assert [j["jobId"] for j in response.json()["jobs"]] == [world["job"]]


def nulls(value: Any, where: str = "") -> list[str]:
    if value is None:
        return [where or "the body"]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in nulls(v, f"{where}[{i}]")]
    return []


def test_responses_omit_unset_members_instead_of_sending_null(server, world):  # type: ignore[no-untyped-def]
    for path, body in (
        ("/v1/describecomputeenvironments", {}),
        ("/v1/describejobqueues", {}),
        ("/v1/describejobdefinitions", {}),
        ("/v1/describejobs", {"jobs": [world["job"]]}),
        ("/v1/listjobs", {"jobQueue": world["queue"], "filters": [{"name": "JOB_NAME", "values": ["*"]}]}),
        ("/v1/submitjob", submit_body(world, jobName="nulls")),
        ("/v1/createjobqueue", queue_body(world)),
    ):
        response = send(server, path, body)
        assert response.status == 200, response.body
        assert nulls(response.json()) == [], path


# --- No 5xx anywhere: every member of every operation, given a wrong type or an edge value ---------------


def sample(shape: Any, name: str, world: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value: required members only, references to the world's real resources."""
    references = {
        "jobQueue": world["queue"],
        "jobDefinition": world["definition"],
        "computeEnvironment": world["environment"],
        "jobId": world["job"],
        "jobs": [world["job"]],
    }
    if name in references:
        return references[name]
    kind = shape.type_name
    if kind == "string":
        return shape.enum[0] if shape.enum else "fuzz"
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return False
    if kind in ("double", "float"):
        return 1.0
    if kind == "list":
        return [sample(shape.member, name, world, depth + 1)]
    if kind == "map":
        return {"k": sample(shape.value, name, world, depth + 1)}
    if kind == "structure":
        if depth > 6:
            return {}
        return {m: sample(shape.members[m], m, world, depth + 1) for m in shape.required_members}
    return None


def paths(shape: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, shape) of every member to depth `depth`; list items are index 0, map values key "k"."""
    out: list[tuple[tuple[Any, ...], Any]] = []
    if depth == 0:
        return out
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            out.append(((*prefix, name), member))
            out.extend(paths(member, (*prefix, name), depth - 1))
    elif kind == "list":
        out.append(((*prefix, 0), shape.member))
        out.extend(paths(shape.member, (*prefix, 0), depth - 1))
    elif kind == "map":
        out.append(((*prefix, "k"), shape.value))
        out.extend(paths(shape.value, (*prefix, "k"), depth - 1))
    return out


def with_value(
    root_shape: Any, base: dict[str, Any], world: dict[str, Any], path: tuple[Any, ...], value: Any
) -> dict[str, Any]:
    """`base` with the member at `path` set to `value`, creating the members on the way as needed."""
    body = copy.deepcopy(base)
    node: Any = body
    shape = root_shape
    for step, key in enumerate(path):
        last = step == len(path) - 1
        if shape.type_name == "structure":
            child = shape.members[key]
            if last:
                node[key] = value
            else:
                if not isinstance(node.get(key), dict | list):
                    node[key] = sample(child, key, world)
                    if child.type_name == "map":
                        node[key] = {"k": sample(child.value, key, world)}
                node = node[key]
        elif shape.type_name == "list":
            child = shape.member
            if not node:
                node.append(sample(child, "", world))
            if last:
                node[0] = value
            else:
                node = node[0]
        else:  # map
            child = shape.value
            if last:
                node["k"] = value
            else:
                node.setdefault("k", sample(child, "", world))
                node = node["k"]
        shape = child
    return body


# A valid request per operation: each mutation below changes one member of it, so the server's deeper checks
# (not only "required member missing") are reached.
BASES = {
    "CreateComputeEnvironment": lambda w: {
        "computeEnvironmentName": uniq("fz"),
        "type": "MANAGED",
        "state": "DISABLED",
        "computeResources": {
            "type": "EC2",
            "instanceRole": "ecsInstanceRole",
            "minvCpus": 0,
            "maxvCpus": 2,
            "desiredvCpus": 0,
        },
    },
    "DescribeComputeEnvironments": lambda w: {},
    "UpdateComputeEnvironment": lambda w: {"computeEnvironment": w["environment"]},
    "DeleteComputeEnvironment": lambda w: {"computeEnvironment": w["environment"]},
    "CreateJobQueue": lambda w: {
        "jobQueueName": uniq("fz"),
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": w["environment"]}],
    },
    "DescribeJobQueues": lambda w: {},
    "UpdateJobQueue": lambda w: {"jobQueue": w["queue"]},
    "DeleteJobQueue": lambda w: {"jobQueue": w["queue"]},
    "RegisterJobDefinition": lambda w: {
        "jobDefinitionName": "fz-jd",
        "type": "container",
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 16, "command": ["true"]},
    },
    "DescribeJobDefinitions": lambda w: {},
    "DeregisterJobDefinition": lambda w: {"jobDefinition": w["deregistered"]},
    "SubmitJob": lambda w: {"jobName": "fz", "jobQueue": w["queue"], "jobDefinition": w["definition"]},
    "DescribeJobs": lambda w: {"jobs": [w["job"]]},
    "ListJobs": lambda w: {"jobQueue": w["queue"]},
    "CancelJob": lambda w: {"jobId": w["job"], "reason": "fuzz"},
    "TerminateJob": lambda w: {"jobId": w["job"], "reason": "fuzz"},
}


@pytest.fixture(scope="module")
def fuzz_world(server):  # type: ignore[no-untyped-def]
    """Resources of the fuzz alone, on a DISABLED environment so nothing it submits ever runs."""
    client = server.client()
    client.create_compute_environment(
        computeEnvironmentName="fz-ce",
        type="MANAGED",
        state="DISABLED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2},
    )
    client.create_job_queue(
        jobQueueName="fz-q", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "fz-ce"}]
    )
    register(client, "fz-def", ["true"])
    register(client, "fz-gone", ["true"])
    client.deregister_job_definition(jobDefinition="fz-gone:1")
    job = client.submit_job(jobName="fz-resident", jobQueue="fz-q", jobDefinition="fz-def")["jobId"]
    return {
        "queue": "fz-q",
        "definition": "fz-def",
        "environment": "fz-ce",
        "job": job,
        "deregistered": "fz-gone:1",
    }


WRONG_TYPES = {
    "string": [7, True, ["s"], {"s": "s"}],
    "integer": ["1", 1.5, True, [1], 2**31],
    "long": ["1", 1.5, False, {"n": 1}, 2**63],
    "boolean": ["true", 1, [True]],
    "double": ["1.0", True, [1.0]],
    "float": ["1.0", True],
    "list": ["x", 3, {"0": "x"}, [None]],
    "map": ["x", ["k", "v"], 3],
    "structure": ["x", 5, [{}], True],
}
EDGE_VALUES = {
    "string": ["", " ", "x" * 5000, "\u0000", "Ref::", "arn:", "arn:aws:batch:us-east-1:123456789012:", "*",
               "%s%n",
               "\u00e9\u4e2d\U0001f600", "-1", "../../etc"],
    "integer": [0, -1, -(2**31), 2**31 - 1],
    "long": [0, -1, -(2**63), 2**63 - 1],
    "boolean": [True],
    "double": [0.0, -1.0, 1e308],
    "float": [0.0, -1.0],
    "list": [[], ["", ""] if True else []],
    "map": [{}, {"": ""}, {"AWS_BATCH_X": "1"}],
    "structure": [{}],
}  # fmt: skip


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_member_value_ever_causes_a_5xx(server, fuzz_world, operation):  # type: ignore[no-untyped-def]
    world = fuzz_world
    shape = MODEL.operation_model(operation).input_shape
    problems: list[str] = []
    requests = accepted = 0
    base = BASES[operation]
    # The deletes' base names resources still in use, so they are refused: the fuzz must not delete them.
    refused = operation in ("DeleteComputeEnvironment", "DeleteJobQueue")
    response = send(server, op_path(operation), base(world))
    assert response.status == (400 if refused else 200), response.body
    for path, member in paths(shape):
        kind = member.type_name
        cases = [(v, True) for v in WRONG_TYPES.get(kind, [])] + [
            (v, False) for v in EDGE_VALUES.get(kind, [])
        ]
        if kind == "string" and member.enum:
            cases.append(("NOT_AN_ENUM_VALUE", True))
        for value, must_fail in cases:
            body = with_value(shape, base(world), world, path, value)
            response = send(server, op_path(operation), body)
            requests += 1
            accepted += response.status == 200
            where = f"{operation} {'.'.join(map(str, path))}={json.dumps(value)[:60]}"
            if response.status >= 500:
                problems.append(f"{where}: {response.status} {response.body[:300]!r}")
            elif must_fail and response.status != 400:
                problems.append(f"{where}: wrong type accepted with {response.status}")
            elif response.status != 200:
                try:
                    assert_error(response, status=400)
                except (AssertionError, ValueError, KeyError) as exc:
                    problems.append(f"{where}: bad error shape {exc!r}: {response.body[:300]!r}")
    assert requests > 0 and (accepted > 0 or refused)
    assert not problems, "\n".join(problems[:40])
    # The world survived whatever was accepted above.
    assert send(server, "/healthz", method="GET").status == 200


def test_the_server_logged_no_internal_error(server):  # type: ignore[no-untyped-def]
    """Runs last in this module: nothing above made the server hit an unexpected exception."""
    log = server.log_file.read_text(errors="replace")
    assert "internal error" not in log
    assert "Traceback" not in log

"""nextToken pagination of the four paginated operations, through botocore's own paginators (docs/api.md,
Pagination)."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.support import module_server, register, wait_for

COUNT = 7
PAGE = 3


server = module_server()


@pytest.fixture(scope="module")
def world(server):  # type: ignore[no-untyped-def]
    """COUNT environments, COUNT queues (all on one DISABLED environment, so jobs stay RUNNABLE), COUNT
    revisions of one definition and COUNT jobs in one queue."""
    client = server.client()
    tag = uuid.uuid4().hex[:6]
    environments = [f"pg-ce-{tag}-{i}" for i in range(COUNT)]
    for name in environments:
        client.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state="DISABLED",
            computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "minvCpus": 0, "maxvCpus": 2},
        )
    queues = [f"pg-q-{tag}-{i}" for i in range(COUNT)]
    for name in queues:
        client.create_job_queue(
            jobQueueName=name,
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environments[0]}],
        )
    definition = f"pg-jd-{tag}"
    for _ in range(COUNT):
        register(client, definition, ["true"])
    other_definition = f"pg-other-{tag}"
    register(client, other_definition, ["true"])
    jobs = [
        client.submit_job(jobName=f"job-{i}", jobQueue=queues[0], jobDefinition=definition)["jobId"]
        for i in range(COUNT)
    ]
    wait_for(
        lambda: all(j["status"] == "RUNNABLE" for j in client.describe_jobs(jobs=jobs)["jobs"]),
        what="the jobs to wait as RUNNABLE",
    )
    details = client.describe_jobs(jobs=jobs)["jobs"]
    newest_first = [j["jobId"] for j in sorted(details, key=lambda j: (-j["createdAt"], j["jobId"]))]
    return {
        "environments": environments,
        "queues": queues,
        "definition": definition,
        "other_definition": other_definition,
        "queue": queues[0],
        "jobs": newest_first,
    }


def pages(client, operation: str, page_size: int = PAGE, **kwargs):  # type: ignore[no-untyped-def]
    paginator = client.get_paginator(operation)
    return list(paginator.paginate(PaginationConfig={"PageSize": page_size}, **kwargs))


def check_pages(result_pages, key: str, page_size: int = PAGE) -> None:  # type: ignore[no-untyped-def]
    """Every page but the last is full and carries a nextToken; the last has none."""
    assert result_pages
    for page in result_pages[:-1]:
        assert len(page[key]) == page_size
        assert page.get("nextToken")
    assert "nextToken" not in result_pages[-1]
    assert len(result_pages[-1][key]) <= page_size
    if len(result_pages) > 1:
        assert result_pages[-1][key], "an empty last page means a needless nextToken was sent"


def test_describe_compute_environments_pages(client, world):  # type: ignore[no-untyped-def]
    result = pages(client, "describe_compute_environments")
    check_pages(result, "computeEnvironments")
    names = [ce["computeEnvironmentName"] for page in result for ce in page["computeEnvironments"]]
    assert len(names) == len(set(names))
    assert names == sorted(names)
    assert [n for n in names if n in world["environments"]] == world["environments"]
    unpaged = client.describe_compute_environments()["computeEnvironments"]
    assert names == [ce["computeEnvironmentName"] for ce in unpaged]


def test_describe_job_queues_pages(client, world):  # type: ignore[no-untyped-def]
    result = pages(client, "describe_job_queues")
    check_pages(result, "jobQueues")
    names = [q["jobQueueName"] for page in result for q in page["jobQueues"]]
    assert len(names) == len(set(names))
    assert [n for n in names if n in world["queues"]] == world["queues"]
    assert names == [q["jobQueueName"] for q in client.describe_job_queues()["jobQueues"]]


def test_describe_job_definitions_pages(client, world):  # type: ignore[no-untyped-def]
    result = pages(client, "describe_job_definitions", jobDefinitionName=world["definition"])
    check_pages(result, "jobDefinitions")
    assert len(result) == 3
    assert [d["revision"] for page in result for d in page["jobDefinitions"]] == list(range(1, COUNT + 1))
    everything = pages(client, "describe_job_definitions", page_size=2)
    check_pages(everything, "jobDefinitions", page_size=2)
    seen = [(d["jobDefinitionName"], d["revision"]) for page in everything for d in page["jobDefinitions"]]
    assert len(seen) == len(set(seen)) == COUNT + 1
    assert seen == sorted(seen)


def test_list_jobs_pages_newest_first(client, world):  # type: ignore[no-untyped-def]
    result = pages(client, "list_jobs", page_size=2, jobQueue=world["queue"], jobStatus="RUNNABLE")
    check_pages(result, "jobSummaryList", page_size=2)
    assert [s["jobId"] for page in result for s in page["jobSummaryList"]] == world["jobs"]
    filtered = pages(
        client,
        "list_jobs",
        page_size=3,
        jobQueue=world["queue"],
        filters=[{"name": "JOB_NAME", "values": ["job-*"]}],
    )
    check_pages(filtered, "jobSummaryList")
    assert [s["jobId"] for page in filtered for s in page["jobSummaryList"]] == world["jobs"]


def test_build_full_result_with_max_items(client, world):  # type: ignore[no-untyped-def]
    paginator = client.get_paginator("describe_job_definitions")
    first = paginator.paginate(
        jobDefinitionName=world["definition"], PaginationConfig={"PageSize": 2, "MaxItems": 3}
    ).build_full_result()
    assert [d["revision"] for d in first["jobDefinitions"]] == [1, 2, 3]
    rest = paginator.paginate(
        jobDefinitionName=world["definition"],
        PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]},
    ).build_full_result()
    assert [d["revision"] for d in rest["jobDefinitions"]] == [4, 5, 6, 7]


def test_a_single_page_has_no_next_token(client, world):  # type: ignore[no-untyped-def]
    out = client.describe_job_definitions(jobDefinitionName=world["definition"], maxResults=COUNT)
    assert len(out["jobDefinitions"]) == COUNT
    assert "nextToken" not in out
    out = client.list_jobs(jobQueue=world["queue"], jobStatus="RUNNABLE")
    assert len(out["jobSummaryList"]) == COUNT
    assert "nextToken" not in out


def test_an_empty_next_token_means_the_first_page(client, world):  # type: ignore[no-untyped-def]
    out = client.list_jobs(jobQueue=world["queue"], jobStatus="RUNNABLE", maxResults=2, nextToken="")
    assert [s["jobId"] for s in out["jobSummaryList"]] == world["jobs"][:2]


def first_token(client, operation: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    out = getattr(client, operation)(maxResults=2, **kwargs)
    assert out.get("nextToken"), out
    return str(out["nextToken"])


def forgeries(token: str) -> list[str]:
    padded = token + "=" * (-len(token) % 4)
    raw = base64.urlsafe_b64decode(padded)
    flipped = bytearray(raw)
    flipped[-3] ^= 0x01
    edited = base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
    replaced = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [edited, replaced, "not-a-token", "e30", token + "x", "%%%%", token[::-1]]


OPERATIONS = [
    ("describe_compute_environments", {}),
    ("describe_job_queues", {}),
    ("describe_job_definitions", {}),
    ("list_jobs", {"jobStatus": "RUNNABLE"}),
]


@pytest.mark.parametrize(("operation", "kwargs"), OPERATIONS, ids=[op for op, _ in OPERATIONS])
def test_forged_or_edited_tokens_are_refused(client, world, operation, kwargs):  # type: ignore[no-untyped-def]
    if operation == "list_jobs":
        kwargs = {**kwargs, "jobQueue": world["queue"]}
    token = first_token(client, operation, **kwargs)
    for forged in forgeries(token):
        with pytest.raises(client.exceptions.ClientException):
            getattr(client, operation)(maxResults=2, nextToken=forged, **kwargs)
    # The genuine token still works.
    assert getattr(client, operation)(maxResults=2, nextToken=token, **kwargs)["ResponseMetadata"]


def test_a_token_with_different_filters_is_refused(client, world):  # type: ignore[no-untyped-def]
    queue = world["queue"]
    token = first_token(client, "list_jobs", jobQueue=queue, jobStatus="RUNNABLE")
    with pytest.raises(client.exceptions.ClientException):
        client.list_jobs(jobQueue=queue, jobStatus="SUBMITTED", nextToken=token, maxResults=2)
    with pytest.raises(client.exceptions.ClientException):
        client.list_jobs(jobQueue=world["queues"][1], jobStatus="RUNNABLE", nextToken=token, maxResults=2)
    with pytest.raises(client.exceptions.ClientException):
        client.list_jobs(
            jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["job-*"]}], nextToken=token, maxResults=2
        )
    token = first_token(client, "describe_job_definitions", jobDefinitionName=world["definition"])
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_definitions(jobDefinitionName=world["other_definition"], nextToken=token)
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_definitions(
            jobDefinitionName=world["definition"], status="ACTIVE", nextToken=token
        )


def test_a_token_of_another_operation_is_refused(client, world):  # type: ignore[no-untyped-def]
    token = first_token(client, "describe_compute_environments")
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_queues(nextToken=token)
    with pytest.raises(client.exceptions.ClientException):
        client.describe_job_definitions(nextToken=token)
    with pytest.raises(client.exceptions.ClientException):
        client.list_jobs(jobQueue=world["queue"], jobStatus="RUNNABLE", nextToken=token)


@pytest.mark.parametrize(("operation", "kwargs"), OPERATIONS, ids=[op for op, _ in OPERATIONS])
@pytest.mark.parametrize("max_results", [0, -1, 101])
def test_max_results_out_of_range_is_refused(client, world, operation, kwargs, max_results):  # type: ignore[no-untyped-def]
    if operation == "list_jobs":
        kwargs = {**kwargs, "jobQueue": world["queue"]}
    with pytest.raises(client.exceptions.ClientException, match="maxResults"):
        getattr(client, operation)(maxResults=max_results, **kwargs)
    assert getattr(client, operation)(maxResults=100, **kwargs)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert getattr(client, operation)(maxResults=1, **kwargs)["ResponseMetadata"]["HTTPStatusCode"] == 200

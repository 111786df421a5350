"""The CloudWatch Logs read API on batchd's port, driven with boto3's `logs` client: GetLogEvents,
FilterLogEvents, DescribeLogStreams, DescribeLogGroups over the jobs' own output (docs/api.md,
CloudWatch Logs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.jobtools import create_ce, create_queue, gate_wait, open_gate, submit
from tests.support import ACCOUNT, REGION, Server, register, uniq, wait_for, wait_status

GROUP = "/aws/batch/job"


def logs_client(server: Server, key: str = "test", secret: str = "test") -> Any:
    return server.client(key, secret, service="logs")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("logs-api") / "data"
    with Server(data_dir, ["--executor", "local", "--stop-grace-seconds", "1"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def queue(server: Server) -> str:
    batch = server.client()
    create_ce(batch, "logs-ce", max_vcpus=4)
    return create_queue(batch, "logs-q", ["logs-ce"])


@pytest.fixture
def logs(server: Server) -> Any:
    return logs_client(server)


def run_job(server: Server, queue: str, script: str, **container: Any) -> tuple[str, dict[str, Any]]:
    """A job that runs `script` to its end: (its id, its DescribeJobs document)."""
    batch = server.client()
    definition = uniq("talk")
    register(batch, definition, ["sh", "-c", script], **container)
    job_id = submit(batch, queue, definition)
    job = wait_status(batch, job_id, timeout=60)
    assert job["status"] == "SUCCEEDED", job
    return job_id, job


def numbered(count: int, tag: str = "line") -> str:
    return f"i=1; while [ $i -le {count} ]; do echo {tag}-$i; i=$((i+1)); done"


def error_code(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def read_forward(logs: Any, stream: str, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every event from the head, page by page, as a client that stops on a repeated token does."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    calls = 0
    while True:
        extra = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, **extra, **kwargs)
        calls += 1
        events.extend(page["events"])
        if page["nextForwardToken"] == token:
            return events, calls
        token = page["nextForwardToken"]


# --- GetLogEvents -----------------------------------------------------------------------------------


def test_get_log_events_reads_a_job_from_the_head_and_stops_on_the_same_token(
    server: Server, queue: str, logs: Any
) -> None:
    _, job = run_job(server, queue, numbered(30) + "; echo to-stderr >&2")
    stream = job["container"]["logStreamName"]
    assert stream == job["attempts"][-1]["container"]["logStreamName"]
    events, _ = read_forward(logs, stream)
    messages = [e["message"] for e in events]
    assert sorted(messages) == sorted([f"line-{i}" for i in range(1, 31)] + ["to-stderr"])
    assert [m for m in messages if m.startswith("line-")] == [f"line-{i}" for i in range(1, 31)]
    assert all(e["timestamp"] > 0 and e["ingestionTime"] >= e["timestamp"] for e in events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_limit_pages_forward_and_backward(server: Server, queue: str, logs: Any) -> None:
    _, job = run_job(server, queue, numbered(25))
    stream = job["container"]["logStreamName"]
    everything = [f"line-{i}" for i in range(1, 26)]

    forward, calls = read_forward(logs, stream, limit=4)
    assert [e["message"] for e in forward] == everything
    assert calls == 8  # six pages of four, one of one, and the one that hands back the same token

    # Without startFromHead the newest events come first, as on AWS; nextBackwardToken goes further back.
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=10)
    assert [e["message"] for e in page["events"]] == everything[-10:]
    backward: list[str] = [e["message"] for e in page["events"]]
    token = page["nextBackwardToken"]
    while True:
        # A b/ token reads backward even with startFromHead=True: the token's direction wins.
        page = logs.get_log_events(
            logGroupName=GROUP, logStreamName=stream, limit=10, nextToken=token, startFromHead=True
        )
        backward = [e["message"] for e in page["events"]] + backward
        if page["nextBackwardToken"] == token:
            break
        token = page["nextBackwardToken"]
    assert backward == everything

    # The forward token of the newest page continues after its last event: nothing is left.
    latest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream)
    after = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, nextToken=latest["nextForwardToken"]
    )
    assert after["events"] == [] and after["nextForwardToken"] == latest["nextForwardToken"]


def test_start_and_end_time_select_a_window(server: Server, queue: str, logs: Any) -> None:
    _, job = run_job(server, queue, "echo early; sleep 0.3; echo middle; sleep 0.3; echo late")
    stream = job["container"]["logStreamName"]
    events, _ = read_forward(logs, stream)
    stamps = {e["message"]: e["timestamp"] for e in events}
    assert stamps["early"] < stamps["middle"] < stamps["late"]

    def window(**bounds: int) -> list[str]:
        found, _ = read_forward(logs, stream, **bounds)
        return [e["message"] for e in found]

    # [startTime, endTime): the start is included, the end is not.
    assert window(startTime=stamps["middle"]) == ["middle", "late"]
    assert window(startTime=stamps["middle"], endTime=stamps["late"]) == ["middle"]
    assert window(endTime=stamps["middle"]) == ["early"]
    newest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, endTime=stamps["late"])
    assert [e["message"] for e in newest["events"]] == ["early", "middle"]


def test_a_running_job_is_read_as_it_writes(server: Server, queue: str, logs: Any, tmp_path: Path) -> None:
    batch = server.client()
    gate = tmp_path / "gate"
    definition = uniq("slow")
    register(batch, definition, ["sh", "-c", f"echo before; {gate_wait(gate)}; echo after"])
    job_id = submit(batch, queue, definition)
    job = wait_status(batch, job_id, ["RUNNING"], timeout=60)
    stream = job["container"]["logStreamName"]

    def first_page() -> dict[str, Any] | None:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
        return page if page["events"] else None

    page = wait_for(first_page, timeout=60, what="the first line of the running job")
    assert [e["message"] for e in page["events"]] == ["before"]
    open_gate(gate)
    assert wait_status(batch, job_id, timeout=60)["status"] == "SUCCEEDED"
    rest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=page["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["after"]


def test_missing_streams_groups_and_bad_parameters_are_refused(server: Server, queue: str, logs: Any) -> None:
    code, message = error_code(logs.get_log_events, logGroupName=GROUP, logStreamName="nope/default/none")
    assert code == "ResourceNotFoundException" and "log stream does not exist" in message
    run_job(server, queue, "echo x")  # the default group exists from here on
    code, message = error_code(logs.get_log_events, logGroupName="/no/such/group", logStreamName="x")
    assert code == "ResourceNotFoundException" and "log group does not exist" in message
    _, job = run_job(server, queue, "echo y")
    stream = job["container"]["logStreamName"]
    for kwargs in (
        {"limit": 10001},
        {"nextToken": "f/999999999999"},
        {"nextToken": "not-a-token"},
        {"logGroupIdentifier": GROUP},  # with logGroupName too
    ):
        code, message = error_code(logs.get_log_events, logGroupName=GROUP, logStreamName=stream, **kwargs)
        assert code == "InvalidParameterException", (kwargs, code, message)
    code, _ = error_code(logs.get_log_events, logStreamName=stream)
    assert code == "InvalidParameterException"


def test_a_log_group_may_be_named_by_arn(server: Server, queue: str, logs: Any) -> None:
    _, job = run_job(server, queue, "echo by-arn")
    stream = job["container"]["logStreamName"]
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
    for identifier in (arn, arn + ":*", GROUP):
        page = logs.get_log_events(logGroupIdentifier=identifier, logStreamName=stream, startFromHead=True)
        assert [e["message"] for e in page["events"]] == ["by-arn"]
    other = f"arn:aws:logs:{REGION}:999999999999:log-group:{GROUP}"
    code, _ = error_code(logs.get_log_events, logGroupIdentifier=other, logStreamName=stream)
    assert code == "ResourceNotFoundException"


# --- a definition's logConfiguration --------------------------------------------------------------------


def test_awslogs_group_and_stream_prefix_of_the_definition(server: Server, queue: str, logs: Any) -> None:
    group = f"/batchd/{uniq('team')}"
    options = {"awslogs-group": group, "awslogs-stream-prefix": "nightly"}
    _, job = run_job(
        server, queue, "echo configured", logConfiguration={"logDriver": "awslogs", "options": options}
    )
    stream = job["container"]["logStreamName"]
    assert stream.startswith("nightly/default/")
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in page["events"]] == ["configured"]
    code, _ = error_code(logs.get_log_events, logGroupName=GROUP, logStreamName=stream)
    assert code == "ResourceNotFoundException"
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"


# --- DescribeLogStreams, DescribeLogGroups -------------------------------------------------------------


def test_describe_log_streams_by_prefix_and_by_last_event_time(server: Server, queue: str, logs: Any) -> None:
    batch = server.client()
    definition = uniq("describe")
    register(batch, definition, ["sh", "-c", "echo one; echo two"])
    streams: list[str] = []
    for _ in range(3):
        job = wait_status(batch, submit(batch, queue, definition), timeout=60)
        streams.append(job["container"]["logStreamName"])
    found = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=definition + "/")["logStreams"]
    assert [s["logStreamName"] for s in found] == sorted(streams)
    for stream in found:
        assert stream["arn"] == (
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:log-stream:{stream['logStreamName']}"
        )
        assert stream["creationTime"] <= stream["firstEventTimestamp"] <= stream["lastEventTimestamp"]

    # Paged by limit, descending by name.
    pages: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": GROUP, "logStreamNamePrefix": definition, "limit": 2}
    while True:
        answer = logs.describe_log_streams(descending=True, **kwargs)
        pages.extend(s["logStreamName"] for s in answer["logStreams"])
        if "nextToken" not in answer:
            break
        kwargs["nextToken"] = answer["nextToken"]
    assert pages == sorted(streams, reverse=True)

    # The stream written last comes first by LastEventTime, descending.
    newest = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True, limit=1)
    assert newest["logStreams"][0]["logStreamName"] == streams[-1]
    code, _ = error_code(
        logs.describe_log_streams, logGroupName=GROUP, orderBy="LastEventTime", logStreamNamePrefix="x"
    )
    assert code == "InvalidParameterException"
    code, _ = error_code(logs.describe_log_streams, logGroupName="/no/such/group")
    assert code == "ResourceNotFoundException"


def test_describe_log_groups_lists_the_job_group(server: Server, queue: str, logs: Any) -> None:
    run_job(server, queue, "echo group")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    assert GROUP in groups
    assert groups[GROUP]["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="BATCH/JOB")["logGroups"]
    ] == [GROUP]
    assert logs.describe_log_groups(logGroupNamePrefix="/none")["logGroups"] == []


# --- FilterLogEvents --------------------------------------------------------------------------------------


def test_filter_log_events_merges_streams_in_time_and_matches_terms(
    server: Server, queue: str, logs: Any
) -> None:
    prefix = uniq("filter")
    batch = server.client()
    register(
        batch,
        prefix,
        ["sh", "-c", 'echo "INFO start $TAG"; echo "ERROR disk full $TAG"; echo "WARN retrying $TAG"'],
    )
    streams = []
    for tag in ("a", "b"):
        overrides = {"environment": [{"name": "TAG", "value": tag}]}
        job = wait_status(batch, submit(batch, queue, prefix, containerOverrides=overrides), timeout=60)
        streams.append(job["container"]["logStreamName"])

    def search(**kwargs: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            page = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix=prefix, **kwargs)
            events.extend(page["events"])
            if "nextToken" not in page:
                return events
            kwargs["nextToken"] = page["nextToken"]

    everything = search()
    assert len(everything) == 6
    assert [e["timestamp"] for e in everything] == sorted(e["timestamp"] for e in everything)
    assert {e["logStreamName"] for e in everything} == set(streams)
    assert [e["message"] for e in search(filterPattern="ERROR")] == ["ERROR disk full a", "ERROR disk full b"]
    assert [e["message"] for e in search(filterPattern='"disk full" b')] == ["ERROR disk full b"]
    assert sorted(e["message"] for e in search(filterPattern="?ERROR ?WARN")) == sorted(
        ["ERROR disk full a", "ERROR disk full b", "WARN retrying a", "WARN retrying b"]
    )
    assert [e["message"] for e in search(filterPattern="-ERROR -WARN")] == ["INFO start a", "INFO start b"]
    assert [e["message"] for e in search(filterPattern="%retry.ng b$%")] == ["WARN retrying b"]
    assert search(filterPattern="error") == []  # terms are case-sensitive, as on AWS

    # Page by page (limit=1) gives the same events with the same eventIds.
    one_by_one = search(limit=1)
    assert [(e["eventId"], e["message"]) for e in one_by_one] == [
        (e["eventId"], e["message"]) for e in everything
    ]
    assert len({e["eventId"] for e in everything}) == 6
    only = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[streams[1]])["events"]
    assert {e["logStreamName"] for e in only} == {streams[1]} and len(only) == 3
    window = search(startTime=everything[3]["timestamp"], endTime=everything[5]["timestamp"])
    assert window == [
        e for e in everything if everything[3]["timestamp"] <= e["timestamp"] < everything[5]["timestamp"]
    ]

    for kwargs in (
        {"filterPattern": '{ $.level = "error" }'},
        {"filterPattern": "[ip, user]"},
        {"logStreamNames": [streams[0]], "logStreamNamePrefix": prefix},
        {"nextToken": "forged"},
        {"limit": 10001},
    ):
        code, message = error_code(logs.filter_log_events, logGroupName=GROUP, **kwargs)
        assert code == "InvalidParameterException", (kwargs, code, message)


# --- accounts --------------------------------------------------------------------------------------------


def test_accounts_see_only_their_own_streams(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[one]\naws_access_key_id = AKIALOGSONE000000001\naws_secret_access_key = one-secret\n"
        "aws_account_id = 111111111111\nbatchd_trusted = true\n\n"
        "[two]\naws_access_key_id = AKIALOGSTWO000000002\naws_secret_access_key = two-secret\n"
        "aws_account_id = 222222222222\nbatchd_trusted = true\n"
    )
    flags = ["--executor", "local", "--credentials", str(credentials), "--stop-grace-seconds", "1"]
    with Server(tmp_path / "data", flags) as srv:
        batch = srv.client("AKIALOGSONE000000001", "one-secret")
        create_ce(batch, "ce", max_vcpus=2)
        create_queue(batch, "q", ["ce"])
        register(batch, "secret", ["sh", "-c", "echo one-only"])
        job = wait_status(batch, submit(batch, "q", "secret"), timeout=60)
        stream = job["container"]["logStreamName"]
        mine = logs_client(srv, "AKIALOGSONE000000001", "one-secret")
        page = mine.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
        assert [e["message"] for e in page["events"]] == ["one-only"]

        theirs = logs_client(srv, "AKIALOGSTWO000000002", "two-secret")
        code, _ = error_code(theirs.get_log_events, logGroupName=GROUP, logStreamName=stream)
        assert code == "ResourceNotFoundException"
        assert theirs.describe_log_groups()["logGroups"] == []
        code, _ = error_code(theirs.filter_log_events, logGroupName=GROUP)
        assert code == "ResourceNotFoundException"
        unsigned = logs_client(srv, "AKIALOGSTWO000000002", "wrong-secret")
        code, _ = error_code(unsigned.describe_log_groups)
        assert code == "UnrecognizedClientException" or "Signature" in code, code

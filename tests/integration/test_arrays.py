"""Array jobs and their dependency types, driven with boto3 against a real server (docs/jobs.md).

Children run as local processes; order is checked from the times the server recorded, and from what the
children themselves wrote, never from sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobtools import create_ce, create_queue, gate_wait, open_gate, submit
from tests.support import Server, describe, module_server, output, register, uniq, wait_for, wait_status

server = module_server("--stop-grace-seconds", "2")

PARENT_STATUSES = {"SUBMITTED", "PENDING", "SUCCEEDED", "FAILED"}


def new_queue(client: Any, max_vcpus: int = 4, state: str = "ENABLED") -> str:
    ce = create_ce(client, uniq("ce"), max_vcpus=max_vcpus, state=state)
    return create_queue(client, uniq("q"), [ce])


def children(client: Any, parent: str, size: int) -> list[dict[str, Any]]:
    ids = [f"{parent}:{i}" for i in range(size)]
    found: list[dict[str, Any]] = []
    for start in range(0, size, 100):
        found += client.describe_jobs(jobs=ids[start : start + 100])["jobs"]
    assert [j["jobId"] for j in found] == ids
    return found


def summary(client: Any, parent: str) -> dict[str, int]:
    return dict(describe(client, parent)["arrayProperties"]["statusSummary"])


def list_all(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_jobs").paginate(**kwargs)
    return [j for page in pages for j in page["jobSummaryList"]]


# --- sizes and shape ----------------------------------------------------------------------------------


def test_sizes_at_the_limits(client: Any) -> None:
    queue = new_queue(client, state="DISABLED")
    definition = register(client, uniq("d"), ["true"])
    for size in (1, 10_001):
        with pytest.raises(client.exceptions.ClientException, match="between 2 and 10,000"):
            submit(client, queue, definition, arrayProperties={"size": size})
    ordinary = submit(client, queue, definition, arrayProperties={})
    assert "arrayProperties" not in describe(client, ordinary)
    two = submit(client, queue, definition, arrayProperties={"size": 2})
    biggest = submit(client, queue, definition, arrayProperties={"size": 10_000})
    # Nothing can be placed (the environment is DISABLED): every child waits RUNNABLE.
    wait_for(lambda: summary(client, biggest)["RUNNABLE"] == 10_000, timeout=60, what="10,000 children")
    parent = describe(client, biggest)
    assert parent["status"] == "PENDING"
    assert parent["arrayProperties"]["size"] == 10_000
    assert parent["arrayProperties"]["statusSummaryLastUpdatedAt"] >= parent["createdAt"]
    assert sum(parent["arrayProperties"]["statusSummary"].values()) == 10_000
    last = describe(client, f"{biggest}:9999")
    assert last["arrayProperties"] == {"index": 9999}
    assert last["status"] == "RUNNABLE"
    assert last["jobArn"] == f"{parent['jobArn']}:9999"
    with pytest.raises(client.exceptions.ClientException):
        client.describe_jobs(jobs=[f"{biggest}:10000", "x" * 200])
    assert client.describe_jobs(jobs=[f"{biggest}:10000"])["jobs"] == []
    # The queue lists the parents and the ordinary job, never a child.
    listed = {j["jobId"] for j in list_all(client, jobQueue=queue, jobStatus="PENDING")}
    assert listed == {two, biggest}
    runnable = list_all(client, jobQueue=queue, jobStatus="RUNNABLE")
    assert [j["jobId"] for j in runnable] == [ordinary]


def test_each_child_runs_with_its_index_and_its_own_log(client: Any, server: Server) -> None:
    queue = new_queue(client)
    script = 'echo "$AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ATTEMPT"'
    definition = register(client, uniq("d"), ["sh", "-c", script])
    parent = submit(client, queue, definition, arrayProperties={"size": 3})
    done = wait_status(client, parent, timeout=60)
    assert done["status"] == "SUCCEEDED"
    kids = children(client, parent, 3)
    streams = {k["container"]["logStreamName"] for k in kids}
    assert len(streams) == 3
    for index, kid in enumerate(kids):
        assert kid["status"] == "SUCCEEDED"
        assert kid["arrayProperties"] == {"index": index}
        assert output(server, kid["jobId"]) == [f"{index} {parent}:{index} 1"]
    assert done["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    assert done["stoppedAt"] >= max(k["stoppedAt"] for k in kids)
    assert done["statusReason"]


def test_parent_fails_once_every_child_ended_and_one_failed(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client, max_vcpus=4)
    gate = tmp_path / "gate"
    # Child 1 fails at once; the others wait for the gate, so the parent must outlive the failure.
    script = f'[ "$AWS_BATCH_JOB_ARRAY_INDEX" = 1 ] && exit 3; {gate_wait(gate)}'
    definition = register(client, uniq("d"), ["sh", "-c", script])
    parent = submit(client, queue, definition, arrayProperties={"size": 3})
    wait_for(lambda: client.describe_jobs(jobs=[f"{parent}:1"])["jobs"], what="the children to exist")
    assert wait_status(client, f"{parent}:1")["status"] == "FAILED"
    wait_for(lambda: summary(client, parent)["RUNNING"] == 2, what="two children running")
    assert describe(client, parent)["status"] == "PENDING"
    open_gate(gate)
    done = wait_status(client, parent)
    assert done["status"] == "FAILED"
    assert "1 of 3" in done["statusReason"]
    kids = children(client, parent, 3)
    assert [k["status"] for k in kids] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert done["stoppedAt"] >= max(k["stoppedAt"] for k in kids)
    assert done["arrayProperties"]["statusSummary"] == {
        "SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 0, "STARTING": 0, "RUNNING": 0, "SUCCEEDED": 2, "FAILED": 1,
    }  # fmt: skip


def test_each_child_is_retried_on_its_own(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client)
    marker = tmp_path / "failed-once"
    script = f'[ "$AWS_BATCH_JOB_ARRAY_INDEX" = 0 ] && [ ! -f {marker} ] && touch {marker} && exit 1; exit 0'
    definition = register(client, uniq("d"), ["sh", "-c", script], attempts=2)
    parent = submit(client, queue, definition, arrayProperties={"size": 2})
    assert wait_status(client, parent)["status"] == "SUCCEEDED"
    first, second = children(client, parent, 2)
    assert [a["container"]["exitCode"] for a in first["attempts"]] == [1, 0]
    assert [a["container"]["exitCode"] for a in second["attempts"]] == [0]


# --- listing ----------------------------------------------------------------------------------------


def test_list_jobs_by_array_job_id(client: Any) -> None:
    queue = new_queue(client, state="DISABLED")
    definition = register(client, uniq("d"), ["true"])
    parent = submit(client, queue, definition, name="arr", arrayProperties={"size": 5})
    wait_for(lambda: summary(client, parent)["RUNNABLE"] == 5, what="children RUNNABLE")
    client.cancel_job(jobId=f"{parent}:3", reason="not this one")
    runnable = list_all(client, arrayJobId=parent, jobStatus="RUNNABLE", PaginationConfig={"PageSize": 2})
    assert [j["jobId"] for j in runnable] == [f"{parent}:{i}" for i in (0, 1, 2, 4)]
    assert [j["arrayProperties"]["index"] for j in runnable] == [0, 1, 2, 4]
    failed = list_all(client, arrayJobId=parent, jobStatus="FAILED")
    assert [j["jobId"] for j in failed] == [f"{parent}:3"]
    by_name = list_all(client, arrayJobId=parent, filters=[{"name": "JOB_NAME", "values": ["ar*"]}])
    assert len(by_name) == 5
    assert list_all(client, arrayJobId=parent, filters=[{"name": "JOB_NAME", "values": ["other"]}]) == []
    page = client.list_jobs(arrayJobId=parent, jobStatus="RUNNABLE", maxResults=3)
    assert len(page["jobSummaryList"]) == 3 and page["nextToken"]
    with pytest.raises(client.exceptions.ClientException, match="nextToken"):
        client.list_jobs(arrayJobId=parent, jobStatus="FAILED", nextToken=page["nextToken"])
    ordinary = submit(client, queue, definition)
    for not_an_array in (ordinary, f"{parent}:0", "no-such-job"):
        with pytest.raises(client.exceptions.ClientException, match="no array job"):
            client.list_jobs(arrayJobId=not_an_array)


# --- cancel and terminate -----------------------------------------------------------------------------


def test_cancel_parent_with_running_children(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client, max_vcpus=2)
    gate = tmp_path / "gate"
    definition = register(client, uniq("d"), ["sh", "-c", gate_wait(gate)])
    parent = submit(client, queue, definition, arrayProperties={"size": 5})
    wait_for(lambda: summary(client, parent)["RUNNING"] == 2, what="two children running")
    client.cancel_job(jobId=parent, reason="enough")
    # CancelJob ends what waits; what runs goes on, as on AWS, and the parent waits for it.
    wait_for(lambda: summary(client, parent)["FAILED"] == 3, what="queued children cancelled")
    assert describe(client, parent)["status"] == "PENDING"
    open_gate(gate)
    done = wait_status(client, parent)
    assert done["status"] == "FAILED"
    assert done["isCancelled"] is True
    kids = children(client, parent, 5)
    assert [k["status"] for k in kids] == ["SUCCEEDED", "SUCCEEDED", "FAILED", "FAILED", "FAILED"]
    assert all(k["statusReason"] == "enough" for k in kids[2:])


def test_terminate_parent_stops_every_child(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client, max_vcpus=2)
    definition = register(client, uniq("d"), ["sh", "-c", gate_wait(tmp_path / "never")])
    parent = submit(client, queue, definition, arrayProperties={"size": 4})
    wait_for(lambda: summary(client, parent)["RUNNING"] == 2, what="two children running")
    client.terminate_job(jobId=parent, reason="stop all")
    done = wait_status(client, parent, timeout=60)
    assert done["status"] == "FAILED"
    kids = children(client, parent, 4)
    assert {k["status"] for k in kids} == {"FAILED"}
    assert {k["statusReason"] for k in kids} == {"stop all"}


def test_terminate_one_child_only(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client, max_vcpus=4)
    gate = tmp_path / "gate"
    definition = register(client, uniq("d"), ["sh", "-c", gate_wait(gate)])
    parent = submit(client, queue, definition, arrayProperties={"size": 3})
    wait_for(lambda: summary(client, parent)["RUNNING"] == 3, what="children running")
    client.terminate_job(jobId=f"{parent}:1", reason="just this one")
    assert wait_status(client, f"{parent}:1")["status"] == "FAILED"
    assert summary(client, parent)["RUNNING"] == 2
    open_gate(gate)
    assert wait_status(client, parent)["status"] == "FAILED"
    assert [k["status"] for k in children(client, parent, 3)] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


def test_cancel_parent_before_its_children_exist(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client)
    gate = tmp_path / "gate"
    blocker = submit(client, queue, register(client, uniq("b"), ["sh", "-c", gate_wait(gate)]))
    parent = submit(
        client, queue, register(client, uniq("d"), ["true"]), arrayProperties={"size": 3},
        dependsOn=[{"jobId": blocker}],
    )  # fmt: skip
    assert wait_status(client, parent, {"PENDING"})["status"] == "PENDING"
    client.cancel_job(jobId=parent, reason="never mind")
    done = wait_status(client, parent)
    assert done["status"] == "FAILED" and done["statusReason"] == "never mind"
    assert client.describe_jobs(jobs=[f"{parent}:0"])["jobs"] == []
    open_gate(gate)


# --- dependencies -------------------------------------------------------------------------------------


def test_a_job_depending_on_an_array_waits_for_every_child(client: Any) -> None:
    queue = new_queue(client, max_vcpus=4)
    definition = register(client, uniq("d"), ["sh", "-c", 'sleep "0.$AWS_BATCH_JOB_ARRAY_INDEX"'])
    parent = submit(client, queue, definition, arrayProperties={"size": 4})
    after = submit(client, queue, register(client, uniq("a"), ["true"]), dependsOn=[{"jobId": parent}])
    done = wait_status(client, after)
    assert done["status"] == "SUCCEEDED"
    finished = describe(client, parent)
    assert done["startedAt"] >= finished["stoppedAt"]
    assert done["startedAt"] >= max(k["stoppedAt"] for k in children(client, parent, 4))
    assert done["dependsOn"] == [{"jobId": parent}]


def test_sequential_children_run_one_after_another(client: Any) -> None:
    queue = new_queue(client, max_vcpus=4)
    definition = register(client, uniq("d"), ["true"])
    parent = submit(
        client, queue, definition, arrayProperties={"size": 5}, dependsOn=[{"type": "SEQUENTIAL"}]
    )
    assert wait_status(client, parent)["status"] == "SUCCEEDED"
    assert describe(client, parent)["dependsOn"] == [{"type": "SEQUENTIAL"}]
    kids = children(client, parent, 5)
    for before, after in zip(kids, kids[1:], strict=False):
        assert after["startedAt"] >= before["stoppedAt"]
        assert after["dependsOn"] == [{"jobId": before["jobId"], "type": "SEQUENTIAL"}]
    assert kids[0]["dependsOn"] == []


def test_a_failed_sequential_child_fails_the_rest(client: Any) -> None:
    queue = new_queue(client)
    definition = register(client, uniq("d"), ["sh", "-c", '[ "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 ]'])
    parent = submit(
        client, queue, definition, arrayProperties={"size": 4}, dependsOn=[{"type": "SEQUENTIAL"}]
    )
    assert wait_status(client, parent)["status"] == "FAILED"
    kids = children(client, parent, 4)
    assert [k["status"] for k in kids] == ["SUCCEEDED", "FAILED", "FAILED", "FAILED"]
    assert kids[2]["statusReason"] == kids[3]["statusReason"] == "Dependent Job failed"
    assert kids[2]["attempts"] == kids[3]["attempts"] == []


def test_n_to_n_child_waits_for_the_same_index(client: Any) -> None:
    queue = new_queue(client, max_vcpus=4)
    # Child i of the first array takes longer the lower its index, so order by index is not by accident.
    slower_first = ["sh", "-c", 'sleep "0.$((4 - AWS_BATCH_JOB_ARRAY_INDEX))"']
    first = submit(client, queue, register(client, uniq("f"), slower_first), arrayProperties={"size": 4})
    second = submit(
        client, queue, register(client, uniq("s"), ["true"]), arrayProperties={"size": 4},
        dependsOn=[{"jobId": first, "type": "N_TO_N"}],
    )  # fmt: skip
    assert wait_status(client, second)["status"] == "SUCCEEDED"
    assert describe(client, second)["dependsOn"] == [{"jobId": first, "type": "N_TO_N"}]
    for a, b in zip(children(client, first, 4), children(client, second, 4), strict=True):
        assert b["startedAt"] >= a["stoppedAt"]
        assert b["dependsOn"] == [{"jobId": a["jobId"], "type": "N_TO_N"}]


def test_n_to_n_failure_fails_only_the_same_index(client: Any) -> None:
    queue = new_queue(client)
    first = submit(
        client, queue, register(client, uniq("f"), ["sh", "-c", '[ "$AWS_BATCH_JOB_ARRAY_INDEX" != 2 ]']),
        arrayProperties={"size": 3},
    )  # fmt: skip
    second = submit(
        client, queue, register(client, uniq("s"), ["true"]), arrayProperties={"size": 3},
        dependsOn=[{"jobId": first, "type": "N_TO_N"}],
    )  # fmt: skip
    assert wait_status(client, second)["status"] == "FAILED"
    assert [k["status"] for k in children(client, second, 3)] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert describe(client, f"{second}:2")["statusReason"] == "Dependent Job failed"


def test_typed_dependencies_are_checked_at_submit(client: Any) -> None:
    queue = new_queue(client, state="DISABLED")
    definition = register(client, uniq("d"), ["true"])
    three = submit(client, queue, definition, arrayProperties={"size": 3})
    ordinary = submit(client, queue, definition)
    size3 = {"size": 3}
    refused = {
        "same size": dict(arrayProperties={"size": 4}, dependsOn=[{"jobId": three, "type": "N_TO_N"}]),
        "not an array job": dict(arrayProperties=size3, dependsOn=[{"jobId": ordinary, "type": "N_TO_N"}]),
        "applies to array jobs": dict(dependsOn=[{"type": "SEQUENTIAL"}]),
        "names no jobId": dict(arrayProperties=size3, dependsOn=[{"jobId": three, "type": "SEQUENTIAL"}]),
        "needs a jobId": dict(arrayProperties=size3, dependsOn=[{"type": "N_TO_N"}]),
        "does not exist": dict(arrayProperties=size3, dependsOn=[{"jobId": "nope", "type": "N_TO_N"}]),
    }  # fmt: skip
    for message, kwargs in refused.items():
        with pytest.raises(client.exceptions.ClientException, match=message):
            submit(client, queue, definition, **kwargs)
    listed = list_all(client, jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["*"]}])
    assert {j["jobId"] for j in listed} == {three, ordinary}


def test_cancel_a_large_array_while_its_children_are_being_created(client: Any) -> None:
    queue = new_queue(client, state="DISABLED")
    definition = register(client, uniq("d"), ["true"])
    parent = submit(client, queue, definition, arrayProperties={"size": 10_000})
    # Children are created a chunk per pass: cancel once some exist, most likely before the last.
    wait_for(lambda: sum(summary(client, parent).values()) > 0, what="the first children")
    client.cancel_job(jobId=parent, reason="too many")
    done = wait_status(client, parent, timeout=60)
    assert done["status"] == "FAILED"
    assert done["arrayProperties"]["statusSummary"]["FAILED"] == 10_000
    last = describe(client, f"{parent}:9999")
    assert last["status"] == "FAILED" and last["statusReason"] == "too many" and last["isCancelled"] is True
    assert list_all(client, arrayJobId=parent, jobStatus="RUNNABLE") == []


def test_n_to_n_on_an_array_that_failed_before_its_children_existed(client: Any) -> None:
    queue = new_queue(client)
    failing = submit(client, queue, register(client, uniq("x"), ["false"]))
    first = submit(
        client, queue, register(client, uniq("f"), ["true"]), arrayProperties={"size": 3},
        dependsOn=[{"jobId": failing}],
    )  # fmt: skip
    second = submit(
        client, queue, register(client, uniq("s"), ["true"]), arrayProperties={"size": 3},
        dependsOn=[{"jobId": first, "type": "N_TO_N"}],
    )  # fmt: skip
    assert wait_status(client, first)["statusReason"] == "Dependent Job failed"
    assert client.describe_jobs(jobs=[f"{first}:0"])["jobs"] == []
    done = wait_status(client, second)
    assert done["status"] == "FAILED"
    assert {k["statusReason"] for k in children(client, second, 3)} == {"Dependent Job failed"}


def test_cancelling_an_array_fails_what_waits_on_its_children(client: Any, tmp_path: Path) -> None:
    queue = new_queue(client, state="DISABLED")
    runs = new_queue(client)
    definition = register(client, uniq("d"), ["true"])
    gate = tmp_path / "gate"
    blocker = submit(client, runs, register(client, uniq("b"), ["sh", "-c", gate_wait(gate)]))
    # `first` waits for the blocker, so `second`'s children exist (PENDING on first's) before first's do;
    # first is larger than one pass creates, so the cancel may come before, during or after its children.
    first = submit(client, queue, definition, arrayProperties={"size": 1200}, dependsOn=[{"jobId": blocker}])
    second = submit(
        client,
        queue,
        definition,
        arrayProperties={"size": 1200},
        dependsOn=[{"jobId": first, "type": "N_TO_N"}],
    )
    wait_for(lambda: summary(client, second)["PENDING"] == 1200, what="the second array's children")
    open_gate(gate)
    assert wait_status(client, blocker)["status"] == "SUCCEEDED"
    client.cancel_job(jobId=first, reason="called off")
    assert wait_status(client, first, timeout=60)["status"] == "FAILED"
    done = wait_status(client, second, timeout=60)
    assert done["status"] == "FAILED"
    assert done["arrayProperties"]["statusSummary"]["FAILED"] == 1200
    assert describe(client, f"{second}:1199")["statusReason"] == "Dependent Job failed"

"""Consumable resources for real: the API and its checks, jobs that wait for a resource, hold it while they
run and give it back (REPLENISHABLE) or not (NON_REPLENISHABLE), and counts that stay right across a
kill -9 (docs/api.md, Consumable resources; docs/jobs.md, Consumable resources).

Jobs that must run for a while wait for a gate file named after their job id, so the test decides when
each one ends; a probe job shows that the scheduler has had its chance to start a job that must wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.jobtools import Barrier, create_ce, create_queue, gated_command, open_gate, submit
from tests.support import Server, describe, register, wait_for, wait_status

ARN_PREFIX = "arn:aws:batch:us-east-1:123456789012:consumable-resource/"


def resource(client: Any, name: str) -> dict[str, Any]:
    return dict(client.describe_consumable_resource(consumableResource=name))


def counts(client: Any, name: str) -> tuple[int, int, int]:
    found = resource(client, name)
    return found["totalQuantity"], found["inUseQuantity"], found["availableQuantity"]


def needing(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {"consumableResourceList": [{"consumableResource": r, "quantity": q} for r, q in pairs]}


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    assert caught.value.response["Error"]["Code"] == "ClientException"
    return str(caught.value.response["Error"]["Message"])


def gated(client: Any, gates: Path, name: str, **kwargs: Any) -> str:
    return register(client, name, gated_command(gates), **kwargs)


def register_needing(client: Any, name: str, command: list[str], props: dict[str, Any], **extra: Any) -> str:
    return str(
        client.register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": command},
            consumableResourceProperties=props,
            **extra,
        )["jobDefinitionArn"]
    )


def test_create_describe_list_update_delete(client: Any) -> None:
    made = client.create_consumable_resource(
        consumableResourceName="licences", totalQuantity=3, tags={"team": "a"}
    )
    assert made["consumableResourceArn"] == ARN_PREFIX + "licences"
    found = resource(client, "licences")
    assert found["resourceType"] == "REPLENISHABLE"
    assert (found["totalQuantity"], found["inUseQuantity"], found["availableQuantity"]) == (3, 0, 3)
    assert found["tags"] == {"team": "a"}
    assert found["createdAt"] > 0
    assert resource(client, made["consumableResourceArn"])["consumableResourceName"] == "licences"
    client.create_consumable_resource(
        consumableResourceName="tokens", totalQuantity=0, resourceType="NON_REPLENISHABLE"
    )

    # Updates: SET, ADD and REMOVE change the total; a total below 0 is refused and changes nothing.
    assert (
        client.update_consumable_resource(consumableResource="licences", operation="ADD", quantity=2)[
            "totalQuantity"
        ]
        == 5
    )
    assert "below 0" in refused(
        client.update_consumable_resource, consumableResource="licences", operation="REMOVE", quantity=6
    )
    assert counts(client, "licences")[0] == 5
    client.update_consumable_resource(consumableResource="licences", operation="REMOVE", quantity=1)
    client.update_consumable_resource(consumableResource=ARN_PREFIX + "licences", operation="SET", quantity=7)
    assert counts(client, "licences") == (7, 0, 7)
    # The same clientToken and request twice: one update.
    for _ in range(2):
        client.update_consumable_resource(
            consumableResource="licences", operation="ADD", quantity=1, clientToken="once"
        )
    assert counts(client, "licences")[0] == 8
    refused(client.update_consumable_resource, consumableResource="licences", operation="ADD", quantity=3,
            clientToken="once")  # fmt: skip
    assert counts(client, "licences")[0] == 8

    # List: a name filter (case-insensitive, '*' for a prefix) and pages through the signed paginator.
    listed = client.list_consumable_resources()["consumableResources"]
    assert [r["consumableResourceName"] for r in listed] == ["licences", "tokens"]
    assert listed[1]["resourceType"] == "NON_REPLENISHABLE"
    filtered = client.list_consumable_resources(
        filters=[{"name": "CONSUMABLE_RESOURCE_NAME", "values": ["LIC*"]}]
    )
    assert [r["consumableResourceName"] for r in filtered["consumableResources"]] == ["licences"]
    pages = client.get_paginator("list_consumable_resources").paginate(PaginationConfig={"PageSize": 1})
    names = [r["consumableResourceName"] for page in pages for r in page["consumableResources"]]
    assert names == ["licences", "tokens"]
    refused(client.list_consumable_resources, nextToken="forged")

    # Tags through the tagging API, by the resource's ARN.
    arn = made["consumableResourceArn"]
    client.tag_resource(resourceArn=arn, tags={"cost": "x"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a", "cost": "x"}
    client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert resource(client, "licences")["tags"] == {"cost": "x"}

    client.delete_consumable_resource(consumableResource="tokens")
    refused(client.describe_consumable_resource, consumableResource="tokens")
    refused(client.delete_consumable_resource, consumableResource="tokens")


def test_bad_input_is_refused_and_changes_nothing(client: Any, loose: Any) -> None:
    client.create_consumable_resource(consumableResourceName="gpu", totalQuantity=2)
    assert "already exists" in refused(
        client.create_consumable_resource, consumableResourceName="gpu", totalQuantity=9
    )
    assert counts(client, "gpu")[0] == 2
    refused(client.create_consumable_resource, consumableResourceName="bad name", totalQuantity=1)
    refused(
        client.create_consumable_resource,
        consumableResourceName="x",
        totalQuantity=1,
        resourceType="SOMETIMES",
    )
    refused(loose.create_consumable_resource, consumableResourceName="x", totalQuantity=-1)
    refused(client.create_consumable_resource, consumableResourceName="x")
    refused(client.update_consumable_resource, consumableResource="gpu", operation="DOUBLE", quantity=1)
    refused(loose.update_consumable_resource, consumableResource="gpu", operation="SET", quantity=-1)
    refused(client.describe_consumable_resource, consumableResource="missing")
    refused(client.list_consumable_resources, filters=[{"name": "OTHER", "values": ["x"]}])
    assert [
        r["consumableResourceName"] for r in client.list_consumable_resources()["consumableResources"]
    ] == ["gpu"]
    assert counts(client, "gpu") == (2, 0, 2)

    # Job definitions: the resource must exist, each quantity be 1 to its total, each resource named once.
    for props in (
        needing(("missing", 1)),
        needing(("gpu", 0)),
        needing(("gpu", 3)),
        needing(("gpu", 1), (ARN_PREFIX + "gpu", 1)),
    ):
        refused(register_needing, loose, "needs", ["true"], props)
    assert client.describe_job_definitions(jobDefinitionName="needs")["jobDefinitions"] == []

    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    register(client, "plain", ["true"])
    for props in (needing(("missing", 1)), needing(("gpu", 0)), needing(("gpu", 3))):
        refused(submit, loose, "q", "plain", consumableResourcePropertiesOverride=props)
    assert (
        client.list_jobs(jobQueue="q", filters=[{"name": "JOB_NAME", "values": ["job*"]}])["jobSummaryList"]
        == []
    )


def test_definitions_and_overrides_are_shown_and_listed(client: Any) -> None:
    client.create_consumable_resource(consumableResourceName="a", totalQuantity=5)
    client.create_consumable_resource(consumableResourceName="b", totalQuantity=5)
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    jd = register_needing(client, "uses", ["true"], needing(("a", 2), ("b", 1)))
    (definition,) = client.describe_job_definitions(jobDefinitions=[jd])["jobDefinitions"]
    assert definition["consumableResourceProperties"] == needing((ARN_PREFIX + "a", 2), (ARN_PREFIX + "b", 1))

    # The override wins for the resource it names; the definition's others stay.
    job = submit(client, "q", "uses", "over", consumableResourcePropertiesOverride=needing(("a", 4)))
    plain = submit(client, "q", "uses", "plain")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert wait_status(client, plain)["status"] == "SUCCEEDED"
    shown = describe(client, job)
    assert shown["consumableResourceProperties"] == needing((ARN_PREFIX + "a", 4), (ARN_PREFIX + "b", 1))
    assert counts(client, "a") == (5, 0, 5)

    jobs = client.list_jobs_by_consumable_resource(consumableResource="a")["jobs"]
    assert [(j["jobName"], j["quantity"], j["jobStatus"]) for j in jobs] == [
        ("over", 4, "SUCCEEDED"),
        ("plain", 2, "SUCCEEDED"),
    ]
    assert jobs[0]["jobDefinitionArn"] == jd and jobs[0]["createdAt"] > 0
    assert jobs[0]["consumableResourceProperties"] == shown["consumableResourceProperties"]
    by_name = client.list_jobs_by_consumable_resource(
        consumableResource="a", filters=[{"name": "JOB_NAME", "values": ["PL*"]}]
    )["jobs"]
    assert [j["jobName"] for j in by_name] == ["plain"]
    none = client.list_jobs_by_consumable_resource(
        consumableResource=ARN_PREFIX + "a", filters=[{"name": "JOB_STATUS", "values": ["RUNNABLE"]}]
    )["jobs"]
    assert none == []
    pages = client.get_paginator("list_jobs_by_consumable_resource").paginate(
        consumableResource="b", PaginationConfig={"PageSize": 1}
    )
    assert [j["jobName"] for page in pages for j in page["jobs"]] == ["over", "plain"]
    refused(client.list_jobs_by_consumable_resource, consumableResource="a",
            filters=[{"name": "JOB_STATUS", "values": ["SLEEPING"]}])  # fmt: skip


def test_a_replenishable_resource_is_held_while_a_job_runs(client: Any, gates: Path) -> None:
    probe = Barrier(client)
    client.create_consumable_resource(consumableResourceName="one", totalQuantity=1)
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    gated(client, gates, "hold")
    first = submit(client, "q", "hold", "first", consumableResourcePropertiesOverride=needing(("one", 1)))
    wait_status(client, first, {"RUNNING"})
    second = submit(client, "q", "hold", "second", consumableResourcePropertiesOverride=needing(("one", 1)))
    probe()
    # Room for both in the environment, but the resource is held: the second waits.
    assert describe(client, second)["status"] == "RUNNABLE"
    assert counts(client, "one") == (1, 1, 0)
    running = client.list_jobs_by_consumable_resource(
        consumableResource="one", filters=[{"name": "JOB_STATUS", "values": ["RUNNING"]}]
    )["jobs"]
    assert [j["jobName"] for j in running] == ["first"]

    open_gate(gates / first)
    assert wait_status(client, first)["status"] == "SUCCEEDED"
    wait_status(client, second, {"RUNNING"})
    assert counts(client, "one") == (1, 1, 0)
    open_gate(gates / second)
    assert wait_status(client, second)["status"] == "SUCCEEDED"
    assert wait_for(lambda: counts(client, "one") == (1, 0, 1))


def test_a_cancelled_waiting_job_takes_nothing(client: Any, gates: Path) -> None:
    probe = Barrier(client)
    client.create_consumable_resource(
        consumableResourceName="pool", totalQuantity=2, resourceType="NON_REPLENISHABLE"
    )
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    gated(client, gates, "hold")
    big = submit(client, "q", "hold", "big", consumableResourcePropertiesOverride=needing(("pool", 2)))
    wait_status(client, big, {"RUNNING"})
    waiting = submit(
        client, "q", "hold", "waiting", consumableResourcePropertiesOverride=needing(("pool", 1))
    )
    probe()
    assert describe(client, waiting)["status"] == "RUNNABLE"
    client.cancel_job(jobId=waiting, reason="not needed")
    assert wait_status(client, waiting)["status"] == "FAILED"
    open_gate(gates / big)
    assert wait_status(client, big)["status"] == "SUCCEEDED"
    assert counts(client, "pool") == (2, 2, 0)


def test_a_non_replenishable_resource_stays_used(client: Any) -> None:
    probe = Barrier(client)
    client.create_consumable_resource(
        consumableResourceName="credits", totalQuantity=2, resourceType="NON_REPLENISHABLE"
    )
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    register_needing(client, "spend", ["true"], needing(("credits", 1)))
    spent = [submit(client, "q", "spend", f"spend-{i}") for i in range(2)]
    for job in spent:
        assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert counts(client, "credits") == (2, 2, 0)
    third = submit(client, "q", "spend", "third")
    probe()
    assert describe(client, third)["status"] == "RUNNABLE"
    client.update_consumable_resource(consumableResource="credits", operation="ADD", quantity=1)
    assert wait_status(client, third)["status"] == "SUCCEEDED"
    assert counts(client, "credits") == (3, 3, 0)


def test_counts_survive_a_kill_9(server: Server, gates: Path) -> None:
    client = server.client()
    client.create_consumable_resource(consumableResourceName="seat", totalQuantity=1)
    client.create_consumable_resource(
        consumableResourceName="budget", totalQuantity=5, resourceType="NON_REPLENISHABLE"
    )
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    gated(client, gates, "hold")
    both = needing(("seat", 1), ("budget", 1))
    holder = submit(client, "q", "hold", "holder", consumableResourcePropertiesOverride=both)
    wait_status(client, holder, {"RUNNING"})
    waiter = submit(client, "q", "hold", "waiter", consumableResourcePropertiesOverride=needing(("seat", 1)))
    wait_status(client, waiter, {"RUNNABLE"})
    assert counts(client, "seat") == (1, 1, 0)
    assert counts(client, "budget") == (5, 1, 4)

    server.kill()
    server.start()
    client = server.client()

    # The local attempt of `holder` did not outlive the server: it fails, and gives its seat back; the
    # budget it used stays used, once. Then `waiter` gets the seat.
    assert wait_status(client, holder)["status"] == "FAILED"
    wait_status(client, waiter, {"RUNNING"})
    assert counts(client, "seat") == (1, 1, 0)
    assert counts(client, "budget") == (5, 1, 4)
    open_gate(gates / waiter)
    assert wait_status(client, waiter)["status"] == "SUCCEEDED"
    assert wait_for(lambda: counts(client, "seat") == (1, 0, 1))
    assert counts(client, "budget") == (5, 1, 4)

    server.kill()
    server.start()
    client = server.client()
    assert counts(client, "seat") == (1, 0, 1)
    assert counts(client, "budget") == (5, 1, 4)


def test_an_attempt_that_never_ran_gives_back_what_it_took(client: Any) -> None:
    client.create_consumable_resource(
        consumableResourceName="once", totalQuantity=1, resourceType="NON_REPLENISHABLE"
    )
    create_ce(client, "ce", max_vcpus=4)
    create_queue(client, "q", ["ce"])
    register(client, "plain", ["true"])
    register(client, "unlaunchable", ["true"], user="no-such-user-of-batchd")
    take = needing(("once", 1))
    broken = submit(client, "q", "unlaunchable", "broken", consumableResourcePropertiesOverride=take)
    failed = wait_status(client, broken)
    assert failed["status"] == "FAILED" and "startedAt" not in failed
    assert counts(client, "once") == (1, 0, 1)
    ran = submit(client, "q", "plain", "ran", consumableResourcePropertiesOverride=take)
    assert wait_status(client, ran)["status"] == "SUCCEEDED"
    assert counts(client, "once") == (1, 1, 0)

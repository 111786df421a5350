"""Why a job waits, as its statusReason says, and job queues' jobStateTimeLimitActions (docs/jobs.md, Why a
job waits and Time-limit actions). The server runs with `--min-timeout-seconds 1`, so an action may wait
a second instead of AWS's 600.

Every job waits for a gate file named after its own job id, so the first job holds the capacity until
the test lets it go."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobtools import create_ce, create_fair_share_queue, create_queue, gated_command, submit
from tests.support import Server, describe, register, uniq, wait_for, wait_status

CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
TOO_BIG = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"


def gated(client: Any, gates: Path, vcpus: int = 1) -> str:
    return register(client, uniq("gated"), gated_command(gates), vcpus=vcpus)


def full_queue(client: Any, max_vcpus: int = 1, **queue: Any) -> str:
    ce = create_ce(client, uniq("ce"), max_vcpus=max_vcpus)
    name = uniq("q")
    client.create_job_queue(
        jobQueueName=name,
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        **queue,
    )
    return name


def reason_of(client: Any, job_id: str, prefix: str) -> str:
    return str(
        wait_for(
            lambda: (lambda r: r if r.startswith(prefix) else None)(
                describe(client, job_id).get("statusReason", "")
            ),
            timeout=15,
            what=f"{job_id} to wait with {prefix}",
        )
    )


def test_a_job_on_a_full_environment_shows_the_capacity_reason_until_placed(client: Any, gates: Path) -> None:
    queue = full_queue(client)
    definition = gated(client, gates)
    first = submit(client, queue, definition, "first")
    wait_status(client, first, {"RUNNING"})
    second = submit(client, queue, definition, "second")
    reason = reason_of(client, second, f"{CAPACITY} - ")
    assert "vCPUs" in reason
    assert describe(client, second)["status"] == "RUNNABLE"
    (gates / first).write_text("go")
    wait_status(client, second, {"RUNNING"})
    assert "statusReason" not in describe(client, second)
    (gates / second).write_text("go")
    wait_status(client, second, {"SUCCEEDED"})


def test_a_too_big_job_keeps_its_misconfiguration_reason(client: Any, gates: Path) -> None:
    queue = full_queue(client, max_vcpus=2)
    small = gated(client, gates)
    big = submit(client, queue, gated(client, gates, vcpus=4), "big")
    reason_of(client, big, f"{TOO_BIG} - ")
    # Other jobs come and go; the big one still says why it can never start.
    other = submit(client, queue, small, "other")
    wait_status(client, other, {"RUNNING"})
    (gates / other).write_text("go")
    wait_status(client, other, {"SUCCEEDED"})
    detail = describe(client, big)
    assert detail["status"] == "RUNNABLE" and detail["statusReason"].startswith(TOO_BIG)


def test_a_time_limit_action_cancels_a_job_waiting_with_its_reason(client: Any, gates: Path) -> None:
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 2, "action": "CANCEL"}
    queue = full_queue(client, max_vcpus=2, jobStateTimeLimitActions=[action])
    (detail,) = client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    assert detail["jobStateTimeLimitActions"] == [action]
    definition = gated(client, gates)
    holder = submit(client, queue, definition, "holder")
    wait_status(client, holder, {"RUNNING"})
    big = submit(client, queue, gated(client, gates, vcpus=4), "big")
    filler = submit(client, queue, definition, "filler")
    wait_status(client, filler, {"RUNNING"})
    waiting = submit(client, queue, definition, "waiting")
    reason_of(client, waiting, f"{CAPACITY} - ")
    ended = wait_status(client, waiting, {"FAILED"}, timeout=20)
    assert ended["statusReason"] == f"Canceled by JobStateTimeLimit action due to reason: {CAPACITY}"
    assert ended.get("isCancelled") is True
    # The running jobs and the job waiting for another reason are left alone.
    assert describe(client, holder)["status"] == "RUNNING"
    left = describe(client, big)
    assert left["status"] == "RUNNABLE" and left["statusReason"].startswith(TOO_BIG)
    for job_id in (holder, filler):
        (gates / job_id).write_text("go")
        wait_status(client, job_id, {"SUCCEEDED"})


def test_an_action_added_later_applies_to_jobs_already_waiting(client: Any, gates: Path) -> None:
    queue = full_queue(client)
    definition = gated(client, gates)
    holder = submit(client, queue, definition, "holder")
    wait_status(client, holder, {"RUNNING"})
    waiting = submit(client, queue, definition, "waiting")
    reason_of(client, waiting, f"{CAPACITY} - ")
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 1, "action": "CANCEL"}
    client.update_job_queue(jobQueue=queue, jobStateTimeLimitActions=[action])
    ended = wait_status(client, waiting, {"FAILED"}, timeout=20)
    assert ended["statusReason"].startswith("Canceled by JobStateTimeLimit action")
    (gates / holder).write_text("go")
    wait_status(client, holder, {"SUCCEEDED"})


@pytest.mark.parametrize(
    "entry",
    [
        {"reason": "QUOTA:ACCOUNT_RUNNING_LIMIT"},
        {"reason": "anything"},
        {"state": "STARTING"},
        {"action": "TERMINATE"},
        {"maxTimeSeconds": 0},
        {"maxTimeSeconds": 86_401},
    ],
)
def test_bad_time_limit_actions_are_client_errors(client: Any, entry: dict[str, Any]) -> None:
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL", **entry}
    with pytest.raises(client.exceptions.ClientException):
        full_queue(client, jobStateTimeLimitActions=[action])
    queue = full_queue(client)
    with pytest.raises(client.exceptions.ClientException):
        client.update_job_queue(jobQueue=queue, jobStateTimeLimitActions=[action])


def test_one_action_per_reason(client: Any) -> None:
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}
    with pytest.raises(client.exceptions.ClientException, match="more than once"):
        full_queue(client, jobStateTimeLimitActions=[action, {**action, "maxTimeSeconds": 700}])


def test_create_queue_helper_still_has_no_actions(client: Any) -> None:
    ce = create_ce(client, uniq("ce"))
    queue = create_queue(client, uniq("q"), [ce])
    (detail,) = client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    assert not detail.get("jobStateTimeLimitActions")


def test_the_time_waited_survives_a_restart(server: Server, gates: Path) -> None:
    client = server.client()
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 5, "action": "CANCEL"}
    # A DISABLED environment takes no jobs: the job waits for capacity with nothing running.
    ce = create_ce(client, uniq("ce"), max_vcpus=1, state="DISABLED")
    queue = uniq("q")
    client.create_job_queue(
        jobQueueName=queue,
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        jobStateTimeLimitActions=[action],
    )
    waiting = submit(client, queue, gated(client, gates), "waiting")
    reason_of(client, waiting, f"{CAPACITY} - ")
    server.kill()
    time.sleep(5)
    server.start()
    client = server.client()
    restarted = time.monotonic()
    ended = wait_status(client, waiting, {"FAILED"}, timeout=20)
    # Counted from when the job got its reason, not from the restart: due at once.
    assert time.monotonic() - restarted < 4
    assert ended["statusReason"] == f"Canceled by JobStateTimeLimit action due to reason: {CAPACITY}"


def test_a_share_held_back_by_the_compute_reservation_says_so(client: Any, gates: Path) -> None:
    queue = create_fair_share_queue(client, 4, [], reservation=50)
    definition = gated(client, gates)
    # One active share may use half of the 4 vCPUs: the rest is kept for shares not active yet.
    running = [submit(client, queue, definition, f"a{i}", shareIdentifier="A") for i in range(2)]
    for job_id in running:
        wait_status(client, job_id, {"RUNNING"})
    held = submit(client, queue, definition, "a2", shareIdentifier="A")
    reason_of(client, held, "SHARE:FAIR_SHARE_LIMIT - ")
    assert describe(client, held)["status"] == "RUNNABLE"
    for job_id in running:
        (gates / job_id).write_text("go")
    wait_status(client, held, {"RUNNING"})
    assert "statusReason" not in describe(client, held)
    (gates / held).write_text("go")
    wait_status(client, held, {"SUCCEEDED"})

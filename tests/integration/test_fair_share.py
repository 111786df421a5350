"""Fair-share queues scheduling for real: shares get capacity in inverse proportion to their weightFactor,
the compute reservation keeps room for a share that arrives late, and schedulingPriority orders the jobs of
one share (docs/jobs.md, Fair share).

Every job waits for a gate file of its own, so the test decides when each one ends and reads which jobs
the scheduler started from their statuses: nothing depends on how fast the machine is."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from batchd.scheduler.shares import SHARE_USAGE
from batchd.store.sqlite import SqliteStore
from tests.integration.jobtools import create_fair_share_queue, gated_command, release
from tests.support import ACCOUNT, Server, jq_arn, register, uniq, wait_for, wait_status


def fair_queue(client: Any, max_vcpus: int, shares: list[dict[str, Any]], reservation: int = 0) -> str:
    """A fair-share queue on an environment of `max_vcpus`, DISABLED until `open_queue`: jobs submitted
    before it opens are all there for its first placement pass."""
    return create_fair_share_queue(client, max_vcpus, shares, reservation, state="DISABLED")


def open_queue(client: Any, queue: str) -> None:
    (detail,) = client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    for entry in detail["computeEnvironmentOrder"]:
        client.update_compute_environment(computeEnvironment=entry["computeEnvironment"], state="ENABLED")


def gated_definition(client: Any, gates: Path) -> str:
    return register(client, uniq("gated"), gated_command(gates))


def submit_share(
    client: Any, queue: str, definition: str, share: str, count: int, **kwargs: Any
) -> list[str]:
    return [
        client.submit_job(
            jobName=f"{share}-{i}", jobQueue=queue, jobDefinition=definition, shareIdentifier=share, **kwargs
        )["jobId"]
        for i in range(count)
    ]


def statuses(client: Any, job_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(job_ids), 100):
        for job in client.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]:
            found[job["jobId"]] = job["status"]
    return found


def started(client: Any, job_ids: list[str]) -> set[str]:
    return {j for j, s in statuses(client, job_ids).items() if s in ("STARTING", "RUNNING", "SUCCEEDED")}


def wait_started(client: Any, job_ids: list[str], count: int) -> set[str]:
    """Waits until exactly `count` of the jobs have started, and a few more passes start no other."""
    found = wait_for(lambda: (lambda s: s if len(s) >= count else None)(started(client, job_ids)), timeout=60)
    # The scheduler places in passes: one wake after another job's submission is enough to see a
    # wrong extra start. Submitting nothing and re-reading after the running jobs report RUNNING
    # shows the placement has settled.
    wait_for(lambda: all(s == "RUNNING" for j, s in statuses(client, list(found)).items()), timeout=60)
    again = started(client, job_ids)
    assert again == found, f"more jobs started than capacity allows: {len(again)} > {count}"
    return set(found)


WEIGHTS = [
    {"shareIdentifier": "heavy", "weightFactor": 1.0},
    {"shareIdentifier": "light", "weightFactor": 0.5},
]


def test_one_pass_splits_the_capacity_by_weight(client: Any, gates: Path) -> None:
    # Three 1-vCPU slots; share "light" has weightFactor 0.5: it gets twice what "heavy" (1.0) gets.
    queue = fair_queue(client, 3, WEIGHTS)
    definition = gated_definition(client, gates)
    heavy = submit_share(client, queue, definition, "heavy", 8)
    light = submit_share(client, queue, definition, "light", 8)
    share_of = {**dict.fromkeys(heavy, "heavy"), **dict.fromkeys(light, "light")}
    open_queue(client, queue)
    running = wait_started(client, heavy + light, 3)
    assert Counter(share_of[j] for j in running) == {"light": 2, "heavy": 1}
    for job in heavy + light:
        release(gates, job)


def test_capacity_goes_to_shares_in_inverse_proportion_to_their_weight(client: Any) -> None:
    # Deep backlogs of short jobs on two slots: the vCPU-seconds each share receives, read from the
    # jobs' own start and stop times, go 1:2 while both shares have jobs waiting. 1:2 of two slots is
    # no whole number of them: the slots must change hands over time for the split to come out right.
    queue = fair_queue(client, 2, WEIGHTS)
    definition = register(client, uniq("short"), ["sleep", "0.2"])
    submitted = {share: submit_share(client, queue, definition, share, count)
                 for share, count in (("heavy", 20), ("light", 40))}  # fmt: skip
    open_queue(client, queue)
    jobs: dict[str, list[dict[str, Any]]] = {}
    for share, job_ids in submitted.items():
        for job_id in job_ids:
            wait_status(client, job_id, timeout=300)
        jobs[share] = [j for i in range(0, len(job_ids), 100)
                       for j in client.describe_jobs(jobs=job_ids[i : i + 100])["jobs"]]  # fmt: skip
    assert all(j["status"] == "SUCCEEDED" for share_jobs in jobs.values() for j in share_jobs)
    # From the first start to the moment one share has started its last job (after that, the other
    # share has the slots to itself).
    since = min(j["startedAt"] for share_jobs in jobs.values() for j in share_jobs)
    until = min(max(j["startedAt"] for j in share_jobs) for share_jobs in jobs.values())
    received = {
        share: sum(max(0, min(j["stoppedAt"], until) - max(j["startedAt"], since)) for j in share_jobs)
        for share, share_jobs in jobs.items()
    }
    assert received["light"] / received["heavy"] == pytest.approx(2.0, rel=0.15), received


def test_the_reservation_keeps_room_for_a_share_that_arrives_late(client: Any, gates: Path) -> None:
    # computeReservation 50 with one active share: half of the 4 vCPUs stay free for newcomers.
    queue = fair_queue(client, 4, [], reservation=50)
    definition = gated_definition(client, gates)
    early = submit_share(client, queue, definition, "early", 6)
    open_queue(client, queue)
    assert len(wait_started(client, early, 2)) == 2
    late = submit_share(client, queue, definition, "late", 3)
    # The late share's first job starts at once, from the reserve; the early backlog stays where it was.
    first = wait_for(lambda: started(client, late), timeout=60, what="the late share's first job")
    assert len(first) == 1
    assert len(started(client, early)) == 2
    for job in early + late:
        release(gates, job)


def test_scheduling_priority_orders_the_jobs_of_one_share(client: Any, gates: Path) -> None:
    queue = fair_queue(client, 1, [])
    definition = gated_definition(client, gates)
    (blocker,) = submit_share(client, queue, definition, "team", 1)
    open_queue(client, queue)
    assert wait_started(client, [blocker], 1) == {blocker}
    by_priority = {
        priority: submit_share(client, queue, definition, "team", 1, schedulingPriorityOverride=priority)[0]
        for priority in (1, 9, 5)
    }
    order: list[int] = []
    current = blocker
    for _ in range(3):
        release(gates, current)
        assert wait_status(client, current, timeout=60)["status"] == "SUCCEEDED"
        waiting = [j for j in by_priority.values() if j not in {by_priority[p] for p in order}]
        (current,) = wait_started(client, waiting, 1)
        order.append(next(p for p, j in by_priority.items() if j == current))
    release(gates, current)
    assert order == [9, 5, 1]


def saved_usage(server: Server, queue: str) -> dict[str, Any] | None:
    """The queue's fair-share usage as the server last saved it, read beside the running server."""
    store = SqliteStore(server.data_dir / "batchd.sqlite3", owner=False)
    try:
        return store.get_resource(SHARE_USAGE, ACCOUNT, jq_arn(queue))
    finally:
        store.close()


@pytest.mark.parametrize("restart", ["stop", "kill -9"])
def test_share_usage_survives_a_restart(server: Server, client: Any, gates: Path, restart: str) -> None:
    queue = fair_queue(client, 1, [])
    definition = gated_definition(client, gates)
    used = submit_share(client, queue, definition, "used", 2)
    open_queue(client, queue)
    for job_id in used:
        wait_started(client, [job_id], 1)
        release(gates, job_id)
        assert wait_status(client, job_id, timeout=60)["status"] == "SUCCEEDED"
    ran = sum(j["stoppedAt"] - j["startedAt"] for j in client.describe_jobs(jobs=used)["jobs"]) / 1000

    def charged_in_full() -> bool:
        doc = saved_usage(server, queue)
        # The saved value has decayed a little since (τ is 600 s): 90% of the run is "in full" here.
        return doc is not None and "used" in doc["shares"] and doc["shares"]["used"][0] >= 0.9 * ran

    if restart == "stop":
        server.stop()  # a clean stop saves the usage as it is
    else:
        # A crash loses at most the last few seconds: wait until a save has charged the jobs in full.
        wait_for(charged_in_full, timeout=60, what="the usage saved after the jobs ended")
        server.kill()
    server.start()
    client = server.client()

    # Held while the environment is DISABLED: the front of the queue is the order the next pass takes.
    (detail,) = client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    (entry,) = detail["computeEnvironmentOrder"]
    client.update_compute_environment(computeEnvironment=entry["computeEnvironment"], state="DISABLED")
    (again,) = submit_share(client, queue, definition, "used", 1)
    (fresh,) = submit_share(client, queue, definition, "fresh", 1)
    # "used" was submitted first, but its usage before the restart counts against it: "fresh" goes first.
    snapshot = client.get_job_queue_snapshot(jobQueue=queue)
    front = [job["jobArn"].rsplit("/", 1)[-1] for job in snapshot["frontOfQueue"]["jobs"]]
    assert front == [fresh, again]
    for job_id in (again, fresh):
        release(gates, job_id)

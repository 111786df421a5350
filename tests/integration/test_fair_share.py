"""Fair-share queues scheduling for real: shares get capacity in inverse proportion to their weightFactor,
the compute reservation keeps room for a share that arrives late, and schedulingPriority orders the jobs of
one share (docs/jobs.md, Fair share).

Every job waits for a gate file of its own, so the test decides when each one ends and reads which jobs
the scheduler started from their statuses: nothing depends on how fast the machine is."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.integration.jobtools import create_fair_share_queue, gated_command, release
from tests.support import register, uniq, wait_for, wait_status


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


def test_capacity_goes_to_shares_in_inverse_proportion_to_their_weight(client: Any, gates: Path) -> None:
    # Three 1-vCPU slots; share "light" has weightFactor 0.5: it gets twice what "heavy" (1.0) gets.
    queue = fair_queue(client, 3, [{"shareIdentifier": "heavy", "weightFactor": 1.0},
                                   {"shareIdentifier": "light", "weightFactor": 0.5}])  # fmt: skip
    definition = gated_definition(client, gates)
    heavy = submit_share(client, queue, definition, "heavy", 8)
    light = submit_share(client, queue, definition, "light", 8)
    share_of = {**dict.fromkeys(heavy, "heavy"), **dict.fromkeys(light, "light")}
    everyone = heavy + light
    open_queue(client, queue)

    running = wait_started(client, everyone, 3)
    assert Counter(share_of[j] for j in running) == {"light": 2, "heavy": 1}

    # Each time one job ends, its slot goes back to the share that keeps the 2:1 split.
    for _ in range(4):
        ending = sorted(running)[0]
        release(gates, ending)
        assert wait_status(client, ending, timeout=60)["status"] == "SUCCEEDED"
        now_running = wait_for(
            lambda: (lambda r: r if len(r) == 3 else None)(
                {j for j, s in statuses(client, everyone).items() if s in ("STARTING", "RUNNING")}
            ),
            timeout=60,
        )
        assert Counter(share_of[j] for j in now_running) == {"light": 2, "heavy": 1}
        running = now_running
    for job in everyone:
        release(gates, job)


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

"""GetJobQueueSnapshot: a queue's first RUNNABLE jobs in the order the scheduler will try them, and the
vCPUs its running jobs use, per share on a fair-share queue (docs/api.md, Job queue snapshots).

Jobs either sit on a DISABLED environment (they stay RUNNABLE) or wait for a gate file of their own (they
stay RUNNING until the test lets them end), so every answer checked here is fixed, not a race."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.jobtools import create_ce, gated_command, release
from tests.support import jq_arn, module_server, register, uniq, wait_for, wait_status

server = module_server()


def queue_on(client: Any, max_vcpus: int, policy: str | None = None) -> tuple[str, str]:
    """A queue on a DISABLED environment of its own: its jobs wait RUNNABLE until the environment opens."""
    ce = uniq("snap-ce")
    create_ce(client, ce, max_vcpus=max_vcpus, state="DISABLED")
    queue = uniq("snap-q")
    extra = {} if policy is None else {"schedulingPolicyArn": policy}
    client.create_job_queue(
        jobQueueName=queue,
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        **extra,
    )
    return queue, ce


def arns(client: Any, job_ids: list[str]) -> list[str]:
    by_id = {j["jobId"]: j for j in client.describe_jobs(jobs=job_ids)["jobs"]}
    return [by_id[j]["jobArn"] for j in job_ids]


def front(snapshot: dict[str, Any]) -> list[str]:
    return [job["jobArn"] for job in snapshot["frontOfQueue"]["jobs"]]


def test_a_fifo_queue_lists_its_runnable_jobs_in_submission_order(client: Any) -> None:
    queue, _ = queue_on(client, 4)
    definition = register(client, uniq("snap"), ["true"])
    job_ids = [
        client.submit_job(jobName=f"j{i}", jobQueue=queue, jobDefinition=definition)["jobId"]
        for i in range(5)
    ]
    jobs = {j: wait_status(client, j, ("RUNNABLE",)) for j in job_ids}

    snapshot = client.get_job_queue_snapshot(jobQueue=queue)
    assert front(snapshot) == arns(client, job_ids)
    for entry, job_id in zip(snapshot["frontOfQueue"]["jobs"], job_ids, strict=True):
        assert entry["earliestTimeAtPosition"] == jobs[job_id]["createdAt"]
    assert snapshot["frontOfQueue"]["lastUpdatedAt"] >= max(j["createdAt"] for j in jobs.values())
    utilization = snapshot["queueUtilization"]
    assert utilization["totalCapacityUsage"] == [{"capacityUnit": "VCPU", "quantity": 0.0}]
    assert "fairshareUtilization" not in utilization
    # The queue's ARN names it as well as its name does.
    assert front(client.get_job_queue_snapshot(jobQueue=jq_arn(queue))) == front(snapshot)

    # A cancelled job leaves the front; the others keep their order.
    client.cancel_job(jobId=job_ids[1], reason="not needed")
    wait_status(client, job_ids[1], ("FAILED",))
    assert front(client.get_job_queue_snapshot(jobQueue=queue)) == arns(client, job_ids[:1] + job_ids[2:])


def test_an_empty_queue_has_an_empty_front(client: Any) -> None:
    queue, _ = queue_on(client, 4)
    snapshot = client.get_job_queue_snapshot(jobQueue=queue)
    assert snapshot["frontOfQueue"]["jobs"] == []


def test_a_fair_share_queue_interleaves_its_shares_by_weight_and_shows_their_usage(
    client: Any, gates: Path
) -> None:
    policy = client.create_scheduling_policy(
        name=uniq("snap-policy"),
        fairsharePolicy={
            "shareDecaySeconds": 600,
            "computeReservation": 0,
            "shareDistribution": [
                {"shareIdentifier": "heavy", "weightFactor": 1.0},
                {"shareIdentifier": "light", "weightFactor": 0.5},
            ],
        },
    )["arn"]
    queue, ce = queue_on(client, 3, policy)
    definition = register(client, uniq("snap-gated"), gated_command(gates))

    def submit(share: str) -> list[str]:
        return [
            client.submit_job(
                jobName=f"{share}-{i}", jobQueue=queue, jobDefinition=definition, shareIdentifier=share
            )["jobId"]
            for i in range(4)
        ]

    heavy, light = submit("heavy"), submit("light")
    everyone = heavy + light
    try:
        for job_id in everyone:
            wait_status(client, job_id, ("RUNNABLE",))
        # No share has used anything yet: "light" (weightFactor 0.5) gets two jobs for each of "heavy"'s;
        # a tie goes to the share whose next job was submitted first.
        h, lt = heavy, light
        expected = [h[0], lt[0], lt[1], h[1], lt[2], lt[3], h[2], h[3]]
        snapshot = client.get_job_queue_snapshot(jobQueue=queue)
        assert front(snapshot) == arns(client, expected)
        fair = snapshot["queueUtilization"]["fairshareUtilization"]
        assert fair == {"activeShareCount": 0, "topCapacityUtilization": []}

        # Three 1-vCPU slots open: the first three of that order start, and keep running.
        client.update_compute_environment(computeEnvironment=ce, state="ENABLED")
        first = set(expected[:3])

        def all_running() -> bool:
            found = {j["jobId"]: j["status"] for j in client.describe_jobs(jobs=everyone)["jobs"]}
            return all(found[j] == "RUNNING" for j in first)

        wait_for(all_running, timeout=60, what="the first three jobs to run")
        snapshot = client.get_job_queue_snapshot(jobQueue=queue)
        utilization = snapshot["queueUtilization"]
        assert utilization["totalCapacityUsage"] == [{"capacityUnit": "VCPU", "quantity": 3.0}]
        assert utilization["fairshareUtilization"] == {
            "activeShareCount": 2,
            "topCapacityUtilization": [
                {"shareIdentifier": "light", "capacityUsage": [{"capacityUnit": "VCPU", "quantity": 2.0}]},
                {"shareIdentifier": "heavy", "capacityUsage": [{"capacityUnit": "VCPU", "quantity": 1.0}]},
            ],
        }
        # The rest, in the order the running jobs leave them: heavy (1 × 1.0) and light (2 × 0.5) tie.
        assert front(snapshot) == arns(client, [h[1], lt[2], lt[3], h[2], h[3]])
    finally:
        for job_id in everyone:
            release(gates, job_id)


def test_a_retried_job_is_in_the_front_from_the_end_of_its_attempt(client: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    queue, ce = queue_on(client, 1)
    script = f'while [ ! -f "{gate}" ]; do sleep 0.05; done; exit 3'
    definition = register(client, uniq("snap-retry"), ["sh", "-c", script], attempts=2)
    job_id = client.submit_job(jobName="retried", jobQueue=queue, jobDefinition=definition)["jobId"]
    client.update_compute_environment(computeEnvironment=ce, state="ENABLED")
    wait_status(client, job_id, ("RUNNING",), timeout=60)
    # Closed while the attempt runs: the retry then waits RUNNABLE.
    client.update_compute_environment(computeEnvironment=ce, state="DISABLED")
    gate.write_text("go\n")
    job = wait_for(
        lambda: (lambda j: j if j["status"] == "RUNNABLE" and j.get("attempts") else None)(
            client.describe_jobs(jobs=[job_id])["jobs"][0]
        ),
        timeout=60,
        what="the retry to wait RUNNABLE",
    )
    (entry,) = client.get_job_queue_snapshot(jobQueue=queue)["frontOfQueue"]["jobs"]
    assert entry == {"jobArn": job["jobArn"], "earliestTimeAtPosition": job["attempts"][-1]["stoppedAt"]}
    assert entry["earliestTimeAtPosition"] > job["createdAt"]
    client.terminate_job(jobId=job_id, reason="done")


def test_an_unknown_queue_is_refused_by_name(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_job_queue_snapshot(jobQueue="no-such-queue")
    error = caught.value.response["Error"]
    assert error["Code"] == "ClientException"
    assert "no-such-queue" in error["Message"]

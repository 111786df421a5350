"""Helpers for integration tests that run real jobs with the local executor.

Synchronisation is by file handshakes (a job waits for a gate file the test creates) and by deadlines;
`barrier()` proves the scheduler made a full pass after some state was reached, without sleeping.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from tests.support import describe, uniq, wait_for, wait_status

PROBE = "probe"


def gate_wait(gate: Path) -> str:
    """A shell fragment that returns once `gate` exists."""
    return f"while [ ! -f {shlex.quote(str(gate))} ]; do sleep 0.05; done"


def open_gate(gate: Path) -> None:
    gate.write_text("go\n")


def gated_command(gates: Path) -> list[str]:
    """A job command that runs until a file named after its own job id appears in `gates`: the test
    decides when each job ends (`release`), whatever the machine's speed."""
    return ["sh", "-c", f'while [ ! -f "{gates}/$AWS_BATCH_JOB_ID" ]; do sleep 0.05; done']


def release(gates: Path, job_id: str) -> None:
    (gates / job_id).write_text("go\n")


def create_ce(client: Any, name: str, max_vcpus: float = 4, state: str = "ENABLED") -> str:
    arn = client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        state=state,
        computeResources={
            "type": "EC2",
            "instanceRole": "ecsInstanceRole",
            "minvCpus": 0,
            "maxvCpus": max_vcpus,
        },
    )["computeEnvironmentArn"]
    return str(arn)


def create_queue(client: Any, name: str, environments: list[str], priority: int = 1) -> str:
    client.create_job_queue(
        jobQueueName=name,
        priority=priority,
        computeEnvironmentOrder=[
            {"order": i + 1, "computeEnvironment": e} for i, e in enumerate(environments)
        ],
    )
    return name


def submit(client: Any, queue: str, definition: str, name: str = "job", **kwargs: Any) -> str:
    return str(client.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition, **kwargs)["jobId"])


def with_env(**variables: str) -> dict[str, Any]:
    """containerOverrides that add environment variables."""
    return {"environment": [{"name": k, "value": v} for k, v in variables.items()]}


def statuses(client: Any, job_ids: list[str]) -> dict[str, str]:
    jobs = client.describe_jobs(jobs=job_ids)["jobs"]
    return {j["jobId"]: j["status"] for j in jobs}


def wait_all(client: Any, job_ids: list[str], wanted: set[str], timeout: float = 30) -> dict[str, str]:
    return dict(
        wait_for(
            lambda: (lambda s: s if len(s) == len(job_ids) and set(s.values()) <= wanted else None)(
                statuses(client, job_ids)
            ),
            timeout=timeout,
            what=f"{len(job_ids)} jobs to reach {sorted(wanted)}",
        )
    )


def wait_reason(client: Any, job_id: str, prefix: str, timeout: float = 30) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (lambda j: j if str(j.get("statusReason", "")).startswith(prefix) else None)(
                describe(client, job_id)
            ),
            timeout=timeout,
            what=f"job {job_id} statusReason to start with {prefix!r}",
        )
    )


class Barrier:
    """A compute environment and queue of their own whose trivial jobs show that passes happened.

    A probe job is placed in a scheduler pass that also considered every other RUNNABLE job, and it
    settles only after that; once it SUCCEEDED, whatever the scheduler would do with the state the
    test set up before has been done.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        create_ce(client, f"{PROBE}-ce", max_vcpus=1)
        create_queue(client, f"{PROBE}-q", [f"{PROBE}-ce"], priority=1000)
        client.register_job_definition(
            jobDefinitionName=PROBE,
            type="container",
            containerProperties={"image": "busybox", "vcpus": 1, "memory": 4, "command": ["true"]},
        )

    def __call__(self, passes: int = 2) -> None:
        for _ in range(passes):
            job_id = submit(self.client, f"{PROBE}-q", PROBE, name="probe")
            assert wait_status(self.client, job_id)["status"] == "SUCCEEDED"


def read_pid(path: Path, timeout: float = 30) -> int:
    text = wait_for(
        lambda: path.exists() and path.read_text().strip(), timeout=timeout, what=f"a pid in {path}"
    )
    return int(text)


def process_gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie counts as gone: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10) -> None:
    wait_for(lambda: process_gone(pid), timeout=timeout, what=f"process {pid} to be gone")


def kill_if_alive(*pids: int) -> None:
    """Cleanup after a failed assertion: never leave test processes behind."""
    for pid in pids:
        if not process_gone(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


PYTHON = sys.executable


def create_fair_share_queue(
    client: Any, max_vcpus: int, shares: list[dict[str, Any]], reservation: int = 0, state: str = "ENABLED"
) -> str:
    """A queue with a scheduling policy of its own (shareDecaySeconds 600), on an environment of its own
    of `max_vcpus` in `state`; returns the queue's name."""
    ce = uniq("fair-ce")
    create_ce(client, ce, max_vcpus=max_vcpus, state=state)
    policy = client.create_scheduling_policy(
        name=uniq("policy"),
        fairsharePolicy={
            "shareDecaySeconds": 600,
            "computeReservation": reservation,
            "shareDistribution": shares,
        },
    )["arn"]
    queue = uniq("fair-q")
    client.create_job_queue(
        jobQueueName=queue,
        priority=1,
        schedulingPolicyArn=policy,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    return queue

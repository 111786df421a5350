"""Dependencies, priority, order, capacity and ENABLED/DISABLED, with real local processes (docs/api.md,
SubmitJob; Scheduling and capacity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.jobtools import (
    Barrier,
    create_ce,
    create_queue,
    gate_wait,
    open_gate,
    statuses,
    submit,
    wait_all,
    wait_reason,
    with_env,
)
from tests.support import describe, output, register, wait_for, wait_status

MISFIT = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"


def gated(client: Any, name: str, gate: Path, then: str = "") -> None:
    """A definition whose job waits for `gate`, then runs `then`."""
    register(client, name, ["sh", "-c", f"{gate_wait(gate)}; {then or 'true'}"])


# --- dependencies ---------------------------------------------------------------------------------


def test_dependent_waits_pending_until_its_dependency_succeeds(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    gate = tmp_path / "gate"
    gated(client, "first", gate)
    register(client, "second", ["true"])
    a = submit(client, "q", "first", "a")
    b = submit(client, "q", "second", "b", dependsOn=[{"jobId": a}])
    wait_status(client, a, {"RUNNING"})
    wait_status(client, b, {"PENDING"})
    barrier()
    assert describe(client, b)["status"] == "PENDING"
    assert "startedAt" not in describe(client, b)
    open_gate(gate)
    done_a = wait_status(client, a)
    done_b = wait_status(client, b)
    assert done_a["status"] == "SUCCEEDED"
    assert done_b["status"] == "SUCCEEDED"
    assert done_b["startedAt"] >= done_a["stoppedAt"]
    assert done_b["dependsOn"] == [{"jobId": a}]


def test_a_job_waits_for_every_dependency(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    gate1, gate2 = tmp_path / "g1", tmp_path / "g2"
    gated(client, "one", gate1)
    gated(client, "two", gate2)
    register(client, "after", ["true"])
    a1 = submit(client, "q", "one", "a1")
    a2 = submit(client, "q", "two", "a2")
    b = submit(client, "q", "after", "b", dependsOn=[{"jobId": a1}, {"jobId": a2}])
    wait_status(client, b, {"PENDING"})
    open_gate(gate1)
    assert wait_status(client, a1)["status"] == "SUCCEEDED"
    barrier()
    assert describe(client, b)["status"] == "PENDING"
    open_gate(gate2)
    assert wait_status(client, b)["status"] == "SUCCEEDED"


def test_a_failed_dependency_fails_dependents_transitively(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    gate = tmp_path / "gate"
    gated(client, "doomed", gate, then="exit 1")
    marker = tmp_path / "ran"
    register(client, "after", ["sh", "-c", f"touch {marker}"])
    a = submit(client, "q", "doomed", "a")
    b = submit(client, "q", "after", "b", dependsOn=[{"jobId": a}])
    c = submit(client, "q", "after", "c", dependsOn=[{"jobId": b}])
    wait_status(client, b, {"PENDING"})
    wait_status(client, c, {"PENDING"})
    open_gate(gate)
    assert wait_status(client, a)["status"] == "FAILED"
    for job_id in (b, c):
        done = wait_status(client, job_id)
        assert done["status"] == "FAILED"
        assert done["statusReason"] == "Dependent Job failed"
        assert "startedAt" not in done
        assert done["stoppedAt"] > 0
    assert not marker.exists()


def test_a_dependency_already_succeeded_at_submit_is_satisfied(client: Any) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    register(client, "ok", ["true"])
    a = submit(client, "q", "ok", "a")
    assert wait_status(client, a)["status"] == "SUCCEEDED"
    b = submit(client, "q", "ok", "b", dependsOn=[{"jobId": a}])
    assert wait_status(client, b)["status"] == "SUCCEEDED"


def test_a_dependency_already_failed_at_submit_fails_the_job(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    register(client, "bad", ["false"])
    marker = tmp_path / "ran"
    register(client, "after", ["sh", "-c", f"touch {marker}"])
    a = submit(client, "q", "bad", "a")
    assert wait_status(client, a)["status"] == "FAILED"
    b = submit(client, "q", "after", "b", dependsOn=[{"jobId": a}])
    done = wait_status(client, b)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Dependent Job failed"
    assert not marker.exists()


def test_dependencies_across_queues(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce1")
    create_ce(client, "ce2")
    create_queue(client, "q1", ["ce1"])
    create_queue(client, "q2", ["ce2"])
    gate = tmp_path / "gate"
    gated(client, "first", gate)
    register(client, "ok", ["true"])
    a = submit(client, "q1", "first", "a")
    b = submit(client, "q2", "ok", "b", dependsOn=[{"jobId": a}])
    wait_status(client, b, {"PENDING"})
    open_gate(gate)
    assert wait_status(client, b)["status"] == "SUCCEEDED"


# --- priority and order under a capacity of one vCPU ---------------------------------------------


def test_higher_priority_queue_first_then_submission_order(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=1)
    create_queue(client, "low", ["ce"], priority=1)
    create_queue(client, "high", ["ce"], priority=10)
    gate, order = tmp_path / "gate", tmp_path / "order"
    gated(client, "blocker", gate)
    register(client, "mark", ["sh", "-c", f'echo "$NAME" >> {order}'])
    blocker = submit(client, "low", "blocker", "blocker")
    wait_status(client, blocker, {"RUNNING"})
    names = {}
    for name in ("l1", "h1", "l2", "h2", "l3", "h3"):
        queue = "high" if name.startswith("h") else "low"
        names[name] = submit(client, queue, "mark", name, containerOverrides=with_env(NAME=name))
    wait_all(client, list(names.values()), {"RUNNABLE"})
    assert describe(client, blocker)["status"] == "RUNNING"
    open_gate(gate)
    wait_all(client, [blocker, *names.values()], {"SUCCEEDED"})
    expected = ["h1", "h2", "h3", "l1", "l2", "l3"]
    assert order.read_text().split() == expected
    started = {name: describe(client, job_id)["startedAt"] for name, job_id in names.items()}
    assert sorted(expected, key=lambda n: started[n]) == expected


def test_changing_a_queue_priority_reorders_waiting_jobs(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=1)
    create_queue(client, "first", ["ce"], priority=10)
    create_queue(client, "second", ["ce"], priority=5)
    gate, order = tmp_path / "gate", tmp_path / "order"
    gated(client, "blocker", gate)
    register(client, "mark", ["sh", "-c", f'echo "$NAME" >> {order}'])
    blocker = submit(client, "first", "blocker", "blocker")
    wait_status(client, blocker, {"RUNNING"})
    ids = [
        submit(client, queue, "mark", name, containerOverrides=with_env(NAME=name))
        for queue, name in (("first", "f1"), ("second", "s1"), ("first", "f2"), ("second", "s2"))
    ]
    wait_all(client, ids, {"RUNNABLE"})
    client.update_job_queue(jobQueue="second", priority=20)
    open_gate(gate)
    wait_all(client, ids, {"SUCCEEDED"})
    assert order.read_text().split() == ["s1", "s2", "f1", "f2"]


def test_one_vcpu_runs_one_job_at_a_time(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=1)
    create_queue(client, "q", ["ce"])
    trace = tmp_path / "trace"
    register(
        client, "step", ["sh", "-c", f'echo "start $NAME" >> {trace}; sleep 0.1; echo "end $NAME" >> {trace}']
    )
    ids = [submit(client, "q", "step", f"s{i}", containerOverrides=with_env(NAME=str(i))) for i in range(4)]
    wait_all(client, ids, {"SUCCEEDED"})
    lines = trace.read_text().splitlines()
    assert lines == [f"{what} {i}" for i in range(4) for what in ("start", "end")]


def test_queue_tries_environments_in_order_skipping_a_disabled_one(server: Any, client: Any) -> None:
    create_ce(client, "ce-a", state="DISABLED")
    create_ce(client, "ce-b")
    create_queue(client, "q", ["ce-a", "ce-b"])
    register(client, "where", ["sh", "-c", 'echo "$AWS_BATCH_CE_NAME"'])
    job = submit(client, "q", "where")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert output(server, job) == ["ce-b"]


def test_queue_prefers_its_first_environment(server: Any, client: Any) -> None:
    create_ce(client, "ce-a")
    create_ce(client, "ce-b")
    create_queue(client, "q", ["ce-a", "ce-b"])
    register(client, "where", ["sh", "-c", 'echo "$AWS_BATCH_CE_NAME"'])
    job = submit(client, "q", "where")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert output(server, job) == ["ce-a"]


def test_a_full_first_environment_sends_the_job_to_the_next(server: Any, client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce-a", max_vcpus=1)
    create_ce(client, "ce-b", max_vcpus=1)
    create_queue(client, "q", ["ce-a", "ce-b"])
    gate = tmp_path / "gate"
    register(client, "where", ["sh", "-c", f'echo "$AWS_BATCH_CE_NAME"; {gate_wait(gate)}'])
    first = submit(client, "q", "where", "first")
    wait_status(client, first, {"RUNNING"})
    second = submit(client, "q", "where", "second")
    wait_status(client, second, {"RUNNING"})
    open_gate(gate)
    wait_all(client, [first, second], {"SUCCEEDED"})
    assert output(server, first) == ["ce-a"]
    assert output(server, second) == ["ce-b"]


# --- capacity ---------------------------------------------------------------------------------------


def test_capacity_bounds_running_jobs(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=2)
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    register(client, "hold", ["sh", "-c", 'while [ ! -f "$GATE" ]; do sleep 0.05; done'])
    gates = [tmp_path / f"gate{i}" for i in range(5)]
    ids = [
        submit(client, "q", "hold", f"j{i}", containerOverrides=with_env(GATE=str(g)))
        for i, g in enumerate(gates)
    ]
    most = 0

    def placed() -> list[str]:
        nonlocal most
        now = statuses(client, ids)
        active = [i for i in ids if now[i] in ("STARTING", "RUNNING")]
        most = max(most, len(active))
        return active

    def running_exactly(expected: list[str]) -> bool:
        now = statuses(client, ids)
        return [i for i in ids if now[i] == "RUNNING"] == expected

    wait_for(lambda: running_exactly(ids[:2]), what="the first two jobs to run")
    barrier()
    assert placed() == ids[:2]
    assert [statuses(client, ids)[i] for i in ids[2:]] == ["RUNNABLE"] * 3
    for step in range(3):
        open_gate(gates[step])
        wait_status(client, ids[step])
        wait_for(
            lambda s=step: running_exactly(ids[s + 1 : s + 3]), what=f"jobs {step + 1}, {step + 2} to run"
        )
        barrier(1)
        assert len(placed()) == 2
    for g in gates:
        open_gate(g)
    wait_all(client, ids, {"SUCCEEDED"})
    assert most == 2


def test_fractional_vcpus_share_a_vcpu(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=1)
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    gate = tmp_path / "gate"
    client.register_job_definition(
        jobDefinitionName="quarter",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["sh", "-c", gate_wait(gate)],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "16"}],
        },
    )
    ids = [submit(client, "q", "quarter", f"j{i}") for i in range(5)]
    wait_for(lambda: list(statuses(client, ids).values()).count("RUNNING") == 4, what="four quarter jobs")
    barrier()
    now = statuses(client, ids)
    assert [now[i] for i in ids] == ["RUNNING"] * 4 + ["RUNNABLE"]
    requirements = describe(client, ids[0])["container"]["resourceRequirements"]
    assert {"type": "VCPU", "value": "0.25"} in requirements
    open_gate(gate)
    wait_all(client, ids, {"SUCCEEDED"})


def test_a_job_bigger_than_its_environments_stays_runnable(client: Any) -> None:
    create_ce(client, "ce", max_vcpus=2)
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    register(client, "ok", ["true"])
    big = submit(client, "q", "ok", "big", containerOverrides={"vcpus": 4})
    small = submit(client, "q", "ok", "small")
    detail = wait_reason(client, big, MISFIT)
    assert detail["status"] == "RUNNABLE"
    # No head-of-line blocking: the job behind it runs.
    assert wait_status(client, small)["status"] == "SUCCEEDED"
    barrier()
    assert describe(client, big)["status"] == "RUNNABLE"
    # Growing the environment lets it run.
    client.update_compute_environment(computeEnvironment="ce", computeResources={"maxvCpus": 4})
    done = wait_status(client, big)
    assert done["status"] == "SUCCEEDED"
    assert done["statusReason"] == "Essential container in task exited"


def test_a_job_bigger_than_host_memory_stays_runnable(client: Any) -> None:
    create_ce(client, "ce", max_vcpus=2)
    create_queue(client, "q", ["ce"])
    register(client, "ok", ["true"])
    huge = submit(client, "q", "ok", "huge", containerOverrides={"memory": 1024 * 1024 * 1024})
    detail = wait_reason(client, huge, MISFIT)
    assert detail["status"] == "RUNNABLE"


# --- ENABLED / DISABLED -------------------------------------------------------------------------------


def test_a_disabled_environment_takes_no_jobs_until_enabled(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", state="DISABLED")
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    marker = tmp_path / "ran"
    register(client, "touch", ["sh", "-c", f"touch {marker}"])
    job = submit(client, "q", "touch")
    wait_status(client, job, {"RUNNABLE"})
    barrier()
    detail = describe(client, job)
    assert detail["status"] == "RUNNABLE"
    assert not str(detail.get("statusReason", "")).startswith(MISFIT)
    assert not marker.exists()
    client.update_compute_environment(computeEnvironment="ce", state="ENABLED")
    assert wait_status(client, job)["status"] == "SUCCEEDED"
    assert marker.exists()


def test_disabling_an_environment_stops_new_placements_not_running_jobs(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce")
    create_queue(client, "q", ["ce"])
    barrier = Barrier(client)
    gate = tmp_path / "gate"
    gated(client, "hold", gate)
    running = submit(client, "q", "hold", "running")
    wait_status(client, running, {"RUNNING"})
    client.update_compute_environment(computeEnvironment="ce", state="DISABLED")
    waiting = submit(client, "q", "hold", "waiting")
    wait_status(client, waiting, {"RUNNABLE"})
    barrier()
    assert statuses(client, [running, waiting]) == {running: "RUNNING", waiting: "RUNNABLE"}
    open_gate(gate)
    assert wait_status(client, running)["status"] == "SUCCEEDED"
    barrier()
    assert describe(client, waiting)["status"] == "RUNNABLE"
    client.update_compute_environment(computeEnvironment="ce", state="ENABLED")
    assert wait_status(client, waiting)["status"] == "SUCCEEDED"


def test_a_disabled_queue_still_runs_its_queued_jobs(client: Any, tmp_path: Path) -> None:
    create_ce(client, "ce", max_vcpus=1)
    create_queue(client, "q", ["ce"])
    gate = tmp_path / "gate"
    gated(client, "hold", gate)
    register(client, "ok", ["true"])
    blocker = submit(client, "q", "hold", "blocker")
    wait_status(client, blocker, {"RUNNING"})
    queued = submit(client, "q", "ok", "queued")
    wait_status(client, queued, {"RUNNABLE"})
    client.update_job_queue(jobQueue="q", state="DISABLED")
    with pytest.raises(ClientError) as refused:
        submit(client, "q", "ok", "refused")
    assert refused.value.response["Error"]["Code"] == "ClientException"
    open_gate(gate)
    assert wait_status(client, blocker)["status"] == "SUCCEEDED"
    assert wait_status(client, queued)["status"] == "SUCCEEDED"

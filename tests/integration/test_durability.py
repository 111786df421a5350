"""Concurrency and crash safety: many clients at once, and kill -9 loses nothing acknowledged (docs/api.md,
Errors)."""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from tests.support import Server, make_environment, module_server, register, uniq, wait_status

THREADS = 16
HAMMER_SECONDS = 3.0


server = module_server()


def held_queue(client) -> str:  # type: ignore[no-untyped-def]
    """A queue whose only environment is DISABLED: jobs submitted to it wait as RUNNABLE."""
    ce, queue = uniq("ce"), uniq("q")
    make_environment(client, name=ce, queue=queue, max_vcpus=2)
    client.update_compute_environment(computeEnvironment=ce, state="DISABLED")
    return queue


def run_threads(target, count: int = THREADS) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    return errors


def test_sixteen_clients_hammering_mixed_operations(server):  # type: ignore[no-untyped-def]
    setup = server.client()
    queue = held_queue(setup)
    base = uniq("base")
    register(setup, base, ["true"])
    # boto3's default session is not thread-safe to create clients from: make them all here.
    clients = [server.client() for _ in range(THREADS)]
    prefix = uniq("hammer")
    submitted: list[list[str]] = [[] for _ in range(THREADS)]
    registered: list[list[int]] = [[] for _ in range(THREADS)]
    calls = [0] * THREADS
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        client = clients[index]
        definition = f"{prefix}-jd-{index}"
        start.wait()
        deadline = time.monotonic() + HAMMER_SECONDS
        step = 0
        # At least two rounds of every kind of call, however slow the machine, then until the deadline.
        while step < 12 or time.monotonic() < deadline:
            step += 1
            choice = step % 6
            if choice == 0:
                out = client.register_job_definition(
                    jobDefinitionName=definition,
                    type="container",
                    containerProperties={"image": "busybox", "vcpus": 1, "memory": 8, "command": ["true"]},
                )
                registered[index].append(out["revision"])
            elif choice in (1, 2):
                out = client.submit_job(
                    jobName=f"{prefix}-{index}-{step}", jobQueue=queue, jobDefinition=base
                )
                submitted[index].append(out["jobId"])
            elif choice == 3 and submitted[index]:
                found = client.describe_jobs(jobs=submitted[index][-50:])["jobs"]
                assert len(found) == len(submitted[index][-50:])
            elif choice == 4:
                client.list_jobs(jobQueue=queue, jobStatus="RUNNABLE", maxResults=20)
            else:
                client.describe_job_definitions(jobDefinitionName=base)
                client.describe_job_queues(jobQueues=[queue])
            calls[index] += 1

    errors = run_threads(work)
    messages = [
        f"{type(e).__name__} {e.response['ResponseMetadata']['HTTPStatusCode']}: {e}"
        if isinstance(e, ClientError)
        else f"{type(e).__name__}: {e}"
        for e in errors
    ]
    assert not errors, "\n".join(messages[:10])
    assert min(calls) >= 12
    log = server.log_file.read_text(errors="replace")
    assert "database is locked" not in log
    assert "internal error" not in log

    # Every acknowledged submit is there, once.
    all_ids = [job for ids in submitted for job in ids]
    assert len(all_ids) == len(set(all_ids))
    seen: list[str] = []
    paginator = setup.get_paginator("list_jobs")
    for page in paginator.paginate(
        jobQueue=queue,
        filters=[{"name": "JOB_NAME", "values": [f"{prefix}-*"]}],
        PaginationConfig={"PageSize": 100},
    ):
        seen.extend(s["jobId"] for s in page["jobSummaryList"])
    assert sorted(seen) == sorted(all_ids)
    # Each thread's revisions of its own definition are 1, 2, 3, ... with no gap or repeat.
    for index, revisions in enumerate(registered):
        assert revisions == list(range(1, len(revisions) + 1)), index


def test_concurrent_registrations_of_one_name_get_revisions_1_to_16(server):  # type: ignore[no-untyped-def]
    clients = [server.client() for _ in range(THREADS)]
    name = uniq("race")
    revisions: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        start.wait()
        out = clients[index].register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": "busybox",
                "vcpus": 1,
                "memory": 8,
                "command": ["echo", str(index)],
            },
        )
        with lock:
            revisions.append(out["revision"])

    assert run_threads(work) == []
    assert sorted(revisions) == list(range(1, THREADS + 1))
    described = server.client().describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
    assert [d["revision"] for d in described] == list(range(1, THREADS + 1))
    # Each revision holds the body of exactly one registration.
    commands = sorted(d["containerProperties"]["command"][1] for d in described)
    assert commands == sorted(str(i) for i in range(THREADS))


def test_concurrent_creates_of_one_name_make_exactly_one(server):  # type: ignore[no-untyped-def]
    clients = [server.client() for _ in range(THREADS)]
    name = uniq("once")
    wins: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        start.wait()
        try:
            clients[index].create_compute_environment(
                computeEnvironmentName=name,
                type="MANAGED",
                computeResources={
                    "type": "EC2",
                    "instanceRole": "ecsInstanceRole",
                    "minvCpus": 0,
                    "maxvCpus": index + 1,
                },
            )
        except clients[index].exceptions.ClientException as exc:
            assert "Object already exists" in str(exc)
            return
        with lock:
            wins.append(index)

    assert run_threads(work) == []
    assert len(wins) == 1
    detail = server.client().describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    assert detail[0]["computeResources"]["maxvCpus"] == wins[0] + 1


def test_kill_9_loses_nothing_acknowledged(tmp_path):  # type: ignore[no-untyped-def]
    with Server(tmp_path / "data", ["--executor", "local"]) as srv:
        client = srv.client()
        make_environment(client, name="crash-ce", queue="crash-q", max_vcpus=2)
        client.create_compute_environment(
            computeEnvironmentName="crash-held",
            type="MANAGED",
            state="DISABLED",
            computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 2},
        )
        client.create_job_queue(
            jobQueueName="crash-held-q",
            priority=5,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "crash-held"}],
            tags={"k": "v"},
        )
        register(client, "crash-jd", ["sh", "-c", "exit 0"])
        register(client, "crash-jd", ["sh", "-c", "exit 1"])
        client.deregister_job_definition(jobDefinition="crash-jd:2")
        done = client.submit_job(jobName="done", jobQueue="crash-q", jobDefinition="crash-jd")["jobId"]
        finished = wait_status(client, done)
        assert finished["status"] == "SUCCEEDED", (finished["statusReason"], finished["container"])
        queued = [
            client.submit_job(jobName=f"queued-{i}", jobQueue="crash-held-q", jobDefinition="crash-jd:1")[
                "jobId"
            ]
            for i in range(20)
        ]
        cancelled = client.submit_job(jobName="cancelled", jobQueue="crash-held-q", jobDefinition="crash-jd")[
            "jobId"
        ]
        client.cancel_job(jobId=cancelled, reason="cancelled before the crash")
        token = client.describe_job_definitions(maxResults=1)["nextToken"]
        before: dict[str, Any] = {
            "environments": client.describe_compute_environments(
                computeEnvironments=["crash-ce", "crash-held"]
            ),
            "queues": client.describe_job_queues(jobQueues=["crash-q", "crash-held-q"]),
            "definitions": client.describe_job_definitions(jobDefinitionName="crash-jd"),
        }

        srv.kill()
        srv.start()

        after = srv.client()
        for key, call in (
            (
                "environments",
                lambda: after.describe_compute_environments(computeEnvironments=["crash-ce", "crash-held"]),
            ),
            ("queues", lambda: after.describe_job_queues(jobQueues=["crash-q", "crash-held-q"])),
            ("definitions", lambda: after.describe_job_definitions(jobDefinitionName="crash-jd")),
        ):
            now = call()
            now.pop("ResponseMetadata")
            before[key].pop("ResponseMetadata", None)
            assert now == before[key], key
        jobs = {j["jobId"]: j for j in after.describe_jobs(jobs=[done, cancelled, *queued])["jobs"]}
        assert set(jobs) == {done, cancelled, *queued}
        assert jobs[done]["status"] == "SUCCEEDED"
        assert jobs[done]["container"]["exitCode"] == 0
        assert jobs[done]["stoppedAt"] == finished["stoppedAt"]
        assert jobs[cancelled]["status"] == "FAILED"
        assert jobs[cancelled]["statusReason"] == "cancelled before the crash"
        for job in queued:
            assert jobs[job]["status"] in ("SUBMITTED", "PENDING", "RUNNABLE")
            assert jobs[job]["jobDefinition"].endswith(":crash-jd:1") or jobs[job]["jobDefinition"].endswith(
                "/crash-jd:1"
            )
        # Revision numbers continue where they were; a nextToken from before the crash still works.
        assert register(after, "crash-jd", ["true"]).endswith("/crash-jd:3")
        assert after.describe_job_definitions(maxResults=1, nextToken=token)["jobDefinitions"]
        # The server still schedules: a new job on the restored queue runs.
        again = after.submit_job(jobName="after", jobQueue="crash-q", jobDefinition="crash-jd:1")["jobId"]
        assert wait_status(after, again)["status"] == "SUCCEEDED"

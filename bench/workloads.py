"""API latency and SubmitJob throughput (through boto3 and through the light client): jobs are submitted
but never run.

SubmitJob goes to a queue whose only compute environment is DISABLED, so on batchd (as on AWS) jobs stay
RUNNABLE and the figure is the cost of accepting a job, not of running one. moto and localbatch ignore
the compute environment's state; they are started without a reachable Docker engine, so their jobs fail
in a background thread right after submission (see targets.NO_DOCKER_HOST).
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from bench.client import (
    Client,
    Network,
    ce_request,
    job_definition_request,
    make_client,
    queue_request,
    setup_fixture,
    wait_settled,
)
from bench.light import run_light_latency
from bench.parallel import shared_pool
from bench.procstat import Usage
from bench.settings import SubmitRounds
from bench.stats import summarize

OPERATIONS = (
    "CreateComputeEnvironment",
    "DescribeComputeEnvironments",
    "UpdateComputeEnvironment",
    "DeleteComputeEnvironment",
    "CreateJobQueue",
    "DescribeJobQueues",
    "UpdateJobQueue",
    "DeleteJobQueue",
    "RegisterJobDefinition",
    "DescribeJobDefinitions",
    "DeregisterJobDefinition",
    "SubmitJob",
    "DescribeJobs",
    "ListJobs",
    "CancelJob",
    "TerminateJob",
)

WARMUP_CALLS = 5


class Timer:
    """Collects per-operation latencies (ms) and errors; a failed call is counted, not timed."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def call(self, op: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            result = fn(**kwargs)
        except Exception as exc:  # recorded per operation, the run goes on
            self.errors[op].append(f"{type(exc).__name__}: {exc}"[:300])
            return None
        self.samples[op].append((time.perf_counter() - t0) * 1000.0)
        return result

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for op in OPERATIONS:
            row: dict[str, Any] = dict(summarize(self.samples.get(op, [])))
            errs = self.errors.get(op, [])
            row["errors"] = len(errs)
            if errs:
                row["first_error"] = errs[0]
            out[op] = row
        return out


def _untimed(fn: Callable[[], Any]) -> None:
    """Settling waits between timed calls; a failure here shows up as an error of the next timed call."""
    with contextlib.suppress(Exception):
        fn()


def run_api(endpoint: str, net: Network, reps: int, run: int) -> dict[str, dict[str, Any]]:
    """Every operation `reps` times from one client, on fresh names for everything created or deleted."""
    c: Client = make_client(endpoint)
    fx = setup_fixture(c, net, f"api{run}", ce_state="DISABLED")
    for _ in range(WARMUP_CALLS):
        c.describe_job_queues(jobQueues=[fx.queue])
    t = Timer()
    for i in range(reps):
        # Compute environment lifecycle on a standalone environment (no queue refers to it, so it can go).
        ce = f"api{run}-ce-{i}"
        if t.call("CreateComputeEnvironment", c.create_compute_environment, **ce_request(ce, net, "ENABLED")):
            _untimed(partial(wait_settled, c, "ce", ce))
        t.call("DescribeComputeEnvironments", c.describe_compute_environments, computeEnvironments=[ce])
        # Delete needs DISABLED first, as on AWS; the update is that transition.
        t.call(
            "UpdateComputeEnvironment", c.update_compute_environment, computeEnvironment=ce, state="DISABLED"
        )
        _untimed(partial(wait_settled, c, "ce", ce))
        t.call("DeleteComputeEnvironment", c.delete_compute_environment, computeEnvironment=ce)

        # Queue lifecycle against the shared (DISABLED) fixture environment.
        q = f"api{run}-q-{i}"
        if t.call("CreateJobQueue", c.create_job_queue, **queue_request(q, fx.ce)):
            _untimed(partial(wait_settled, c, "queue", q))
        t.call("DescribeJobQueues", c.describe_job_queues, jobQueues=[q])
        t.call("UpdateJobQueue", c.update_job_queue, jobQueue=q, state="DISABLED")
        _untimed(partial(wait_settled, c, "queue", q))
        t.call("DeleteJobQueue", c.delete_job_queue, jobQueue=q)

        jd = t.call(
            "RegisterJobDefinition", c.register_job_definition, **job_definition_request(f"api{run}-jd-{i}")
        )
        arn = jd["jobDefinitionArn"] if jd else f"api{run}-jd-{i}:1"
        t.call("DescribeJobDefinitions", c.describe_job_definitions, jobDefinitions=[arn])
        t.call("DeregisterJobDefinition", c.deregister_job_definition, jobDefinition=arn)

        # Two submissions per repetition: one job to cancel, one to terminate.
        a = t.call(
            "SubmitJob", c.submit_job, jobName=f"a{i}", jobQueue=fx.queue, jobDefinition=fx.job_definition
        )
        a_id = a["jobId"] if a else "missing"
        t.call("DescribeJobs", c.describe_jobs, jobs=[a_id])
        # The default status filter, one page: the queue holds at most 2*reps jobs.
        t.call("ListJobs", c.list_jobs, jobQueue=fx.queue, maxResults=100)
        t.call("CancelJob", c.cancel_job, jobId=a_id, reason="bench")
        b = t.call(
            "SubmitJob", c.submit_job, jobName=f"b{i}", jobQueue=fx.queue, jobDefinition=fx.job_definition
        )
        t.call("TerminateJob", c.terminate_job, jobId=b["jobId"] if b else "missing", reason="bench")
    return t.summary()


def run_throughput(
    endpoint: str, net: Network, rounds: SubmitRounds, run: int, usage: Callable[[], Usage]
) -> dict[str, Any]:
    """SubmitJob jobs/s with 1 and 4 client processes, each with its own boto3 client."""
    c = make_client(endpoint)
    fx = setup_fixture(c, net, f"tp{run}", ce_state="DISABLED")
    return {
        str(procs): _submit_rate(endpoint, fx.queue, fx.job_definition, procs, rounds, usage, f"tp{procs}")
        for procs in rounds.procs
    }


def _submit_rate(
    endpoint: str,
    queue: str,
    job_definition: str,
    procs: int,
    rounds: SubmitRounds,
    usage: Callable[[], Usage] | None,
    prefix: str,
    light: bool = False,
) -> dict[str, Any]:
    """One submit_many round with the server's CPU over it (when usage is known)."""
    before = usage() if usage else None
    res = shared_pool().submit_many(
        endpoint,
        queue,
        job_definition,
        procs,
        rounds.jobs,
        rounds.timeout_s,
        prefix=prefix,
        light=light,
        window_s=rounds.window_s,
    )
    cpu = usage().cpu_s - before.cpu_s if usage and before else None
    return {
        "jobs_per_s": res.rate,
        "cpu_s_per_1000": cpu / res.submitted * 1000 if cpu is not None and res.submitted else None,
        "submitted": res.submitted,
        "errors": res.errors,
        "wall_s": res.wall_s,
        "first_error": res.first_error,
        "stopped_by_deadline": res.stopped_by_deadline,
    }


def run_light(
    endpoint: str,
    queue: str,
    job_definition: str,
    reps: int,
    rounds: SubmitRounds,
    run: int,
    usage: Callable[[], Usage] | None,
) -> dict[str, Any]:
    """The light workload on one server: SubmitJob/DescribeJobs/ListJobs latency from one light client,
    then the throughput rounds, each process with its own light client (see bench.light).

    The caller makes the fixture (through boto3, untimed); for the no-op server any names do."""
    return {
        "latency": run_light_latency(endpoint, queue, job_definition, reps, prefix=f"lt{run}"),
        "throughput": {
            str(procs): _submit_rate(
                endpoint, queue, job_definition, procs, rounds, usage, f"lt{run}-{procs}", light=True
            )
            for procs in rounds.procs
        },
    }

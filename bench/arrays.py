"""Array jobs: one SubmitJob with arrayProperties {"size": N} whose N children are `<parent>:<index>`.

Two parts, each on its own server:
- `run_array_api`: on a DISABLED environment (nothing runs), SubmitJob latency of one array of 1,000 and
  of 10,000 children, how long until every child exists (the parent's statusSummary sums to the size),
  DescribeJobs of a 10,000-child parent, and the server's CPU over each phase;
- `run_array_e2e`: on an ENABLED environment, one array of N trivial children, time from SubmitJob until
  the parent is SUCCEEDED, polling DescribeJobs of the parent alone.

`probe_array` asks a server that may not support arrays what it does with one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from bench import procstat
from bench.client import _CONFIG, Client, Network, make_client, setup_fixture
from bench.settings import REGION
from bench.stats import summarize

POLL_INTERVAL_S = 0.2  # the end-to-end poll of the parent, as the e2e workload polls its jobs
SETTLE_POLL_S = 0.05  # waiting for children to exist: fine enough to time it, cheap enough not to load it
# Children still on their way: a settled array has none. On batchd children are RUNNABLE the moment they
# exist (the environment is DISABLED); moto's fail at once without a Docker engine.
IN_FLIGHT = ("SUBMITTED", "PENDING", "STARTING", "RUNNING")

Usage = Callable[[], procstat.Usage]


def _summary(job: dict[str, Any]) -> dict[str, int]:
    return dict((job.get("arrayProperties") or {}).get("statusSummary") or {})


def _describe_parent(client: Client, job_id: str) -> dict[str, Any] | None:
    jobs = client.describe_jobs(jobs=[job_id])["jobs"]
    return jobs[0] if jobs else None


def _wait_children(client: Client, job_id: str, size: int, timeout_s: float) -> tuple[bool, str]:
    """Poll the parent until its statusSummary sums to `size` with no child in flight."""
    deadline = time.monotonic() + timeout_s
    counts: dict[str, int] = {}
    while True:
        job = _describe_parent(client, job_id)
        counts = _summary(job) if job else {}
        if sum(counts.values()) >= size and not any(counts.get(s) for s in IN_FLIGHT):
            return True, ""
        if time.monotonic() > deadline:
            return False, f"children not all created within {timeout_s:.0f} s (statusSummary {counts})"
        time.sleep(SETTLE_POLL_S)


def _submit_array(client: Client, queue: str, jd: str, name: str, size: int) -> str:
    resp = client.submit_job(jobName=name, jobQueue=queue, jobDefinition=jd, arrayProperties={"size": size})
    return str(resp["jobId"])


def _submits(
    client: Client,
    queue: str,
    jd: str,
    size: int,
    reps: int,
    settle_timeout_s: float,
    usage: Usage,
    tag: str,
) -> dict[str, Any]:
    """`reps` arrays of `size`, one after another; after each (untimed) the bench waits until its children
    exist, so every submission meets a server that has finished the previous one. Also timed: SubmitJob
    until all children exist. CPU covers both: accepting the array and creating its children."""
    submit_ms: list[float] = []
    spawn_s: list[float] = []
    errors: list[str] = []
    last_parent: str | None = None
    before = usage()
    for i in range(reps):
        t0 = time.perf_counter()
        try:
            job_id = _submit_array(client, queue, jd, f"{tag}-{i}", size)
        except Exception as exc:  # counted and reported
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        submit_ms.append((time.perf_counter() - t0) * 1000)
        ok, why = _wait_children(client, job_id, size, settle_timeout_s)
        if not ok:
            errors.append(why)
            break  # the server is still busy with this one; more would measure the backlog
        spawn_s.append(time.perf_counter() - t0)
        last_parent = job_id
    after = usage()
    out: dict[str, Any] = {
        "size": size,
        "reps": reps,
        "submit_ms": summarize(submit_ms),
        "all_children_s": summarize(spawn_s),
        "cpu_s": after.cpu_s - before.cpu_s,
        "cpu_s_per_array": (after.cpu_s - before.cpu_s) / len(spawn_s) if spawn_s else None,
        "errors": len(errors),
        "parent": last_parent,
    }
    if errors:
        out["first_error"] = errors[0]
    return out


def _describes(client: Client, job_id: str, size: int, reps: int, usage: Usage) -> dict[str, Any]:
    """DescribeJobs of one parent whose children all exist, `reps` times from one client."""
    lat: list[float] = []
    errors: list[str] = []
    before = usage()
    for _ in range(reps):
        t0 = time.perf_counter()
        try:
            job = _describe_parent(client, job_id)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        lat.append((time.perf_counter() - t0) * 1000)
        if job is None or sum(_summary(job).values()) != size:
            errors.append(f"parent {job_id} answered without its {size} children: {str(job)[:200]}")
    after = usage()
    out: dict[str, Any] = {
        "size": size,
        "ms": summarize(lat),
        "cpu_ms_per_call": (after.cpu_s - before.cpu_s) / len(lat) * 1000 if lat else None,
        "errors": len(errors),
    }
    if errors:
        out["first_error"] = errors[0]
    return out


def run_array_api(
    endpoint: str,
    net: Network,
    usage: Usage,
    *,
    sizes: tuple[int, ...],
    reps: int,
    describe_reps: int,
    settle_timeout_s: float,
    try_once: dict[int, float] | None = None,
) -> dict[str, Any]:
    """Arrays on a DISABLED environment. `sizes` are submitted `reps` times each; a size in `try_once`
    (size -> seconds) is submitted once, with that read timeout, to see whether the server takes it at
    all. DescribeJobs is timed on the last parent of the largest size that settled."""
    client = make_client(endpoint)
    fx = setup_fixture(client, net, "arr", ce_state="DISABLED")
    out: dict[str, Any] = {"submit": {}, "describe": {}, "tried": {}}
    for size in sizes:
        out["submit"][str(size)] = _submits(
            client, fx.queue, fx.job_definition, size, reps, settle_timeout_s, usage, f"arr{size}"
        )
    for size, timeout_s in (try_once or {}).items():
        out["tried"][str(size)] = _try_once(endpoint, fx.queue, fx.job_definition, size, timeout_s, usage)
    settled = [
        (int(size), r["parent"])
        for size, r in [*out["submit"].items(), *out["tried"].items()]
        if r.get("parent")
    ]
    if settled:
        size, parent = max(settled)
        out["describe"][str(size)] = _describes(client, parent, size, describe_reps, usage)
    return out


def _try_once(
    endpoint: str, queue: str, jd: str, size: int, timeout_s: float, usage: Usage
) -> dict[str, Any]:
    """One array of `size` with a read timeout: whether the server takes it, and how long it takes."""
    client = _client_with_timeout(endpoint, timeout_s)
    before = usage()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"size": size, "timeout_s": timeout_s, "parent": None}
    try:
        job_id = _submit_array(client, queue, jd, f"try{size}", size)
    except Exception as exc:
        out["ok"] = False
        out["outcome"] = f"SubmitJob of a {size:,}-child array: {type(exc).__name__}: {exc}"[:400]
        out["after_s"] = time.perf_counter() - t0
        return out
    out["submit_ms"] = (time.perf_counter() - t0) * 1000
    ok, why = _wait_children(client, job_id, size, timeout_s)
    out["ok"] = ok
    if ok:
        out["all_children_s"] = time.perf_counter() - t0
        out["parent"] = job_id
        out["outcome"] = f"took the {size:,}-child array in {out['submit_ms'] / 1000:.1f} s"
        out["cpu_s"] = usage().cpu_s - before.cpu_s
    else:
        out["outcome"] = why
    return out


def _client_with_timeout(endpoint: str, read_timeout_s: float) -> Client:
    """bench.client's boto3 client (one attempt per call) with a shorter read timeout."""
    session = boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
    )
    config = Config(**{**_CONFIG, "read_timeout": read_timeout_s})
    return session.client("batch", endpoint_url=endpoint, config=config)


def probe_array(endpoint: str, net: Network) -> dict[str, Any]:
    """Submit one 1,000-child array and look at what the server made of it: the parent's
    arrayProperties and whether child `<parent>:0` exists."""
    client = make_client(endpoint)
    fx = setup_fixture(client, net, "probe", ce_state="DISABLED")
    out: dict[str, Any] = {}
    try:
        job_id = _submit_array(client, fx.queue, fx.job_definition, "probe-1", 1000)
    except Exception as exc:
        out["supported"] = False
        out["answer"] = f"SubmitJob refused it: {type(exc).__name__}: {exc}"[:300]
        return out
    time.sleep(1.0)
    parent = _describe_parent(client, job_id) or {}
    child = client.describe_jobs(jobs=[f"{job_id}:0"])["jobs"]
    props = parent.get("arrayProperties")
    out["parent"] = {k: parent.get(k) for k in ("jobId", "status", "arrayProperties", "statusReason")}
    out["child_0_found"] = bool(child)
    out["supported"] = bool(props and props.get("size") == 1000 and child)
    if not out["supported"]:
        out["answer"] = (
            f"SubmitJob with arrayProperties size 1,000 answered jobId {job_id}; DescribeJobs shows "
            f"{'arrayProperties ' + str(props) if props else 'no arrayProperties'}, status "
            f"{parent.get('status')}, and child {job_id}:0 {'exists' if child else 'does not exist'}: "
            "an ordinary job, arrayProperties ignored"
        )[:400]
    return out


def _first_failed_child(client: Client, job_id: str) -> str:
    """The statusReason (and exit code) of one FAILED child, to say why an array failed."""
    try:
        listed = client.list_jobs(arrayJobId=job_id, jobStatus="FAILED", maxResults=1)["jobSummaryList"]
        if not listed:
            return ""
        child = client.describe_jobs(jobs=[listed[0]["jobId"]])["jobs"][0]
    except Exception as exc:
        return f"(could not tell: {type(exc).__name__}: {exc})"[:200]
    container = child.get("container") or {}
    reasons = [r for r in (child.get("statusReason"), container.get("reason")) if r]
    why = ": ".join(dict.fromkeys(str(r) for r in reasons)) or "no statusReason given"
    if container.get("exitCode") is not None:
        why += f" (exit code {container['exitCode']})"
    return why


def run_array_e2e(
    endpoint: str,
    net: Network,
    size: int,
    timeout_s: float,
    usage: Usage,
    job_ids: set[str] | None = None,
) -> dict[str, Any]:
    """One array of `size` trivial children on an ENABLED environment; the parent's DescribeJobs polled
    every 0.2 s until it is SUCCEEDED (or FAILED, or every child has ended, or the time limit)."""
    client = make_client(endpoint)
    fx = setup_fixture(client, net, f"arre2e{size}", ce_state="ENABLED")
    before = usage()
    t0 = time.perf_counter()
    job_id = _submit_array(client, fx.queue, fx.job_definition, "arr-e2e", size)
    submit_ms = (time.perf_counter() - t0) * 1000
    if job_ids is not None:
        job_ids.add(job_id)  # children's containers carry the parent's id in their name or environment
    deadline = time.monotonic() + timeout_s
    polls = poll_errors = 0
    status = reason = ""
    counts: dict[str, int] = {}
    while True:
        polls += 1
        try:
            job = _describe_parent(client, job_id) or {}
        except Exception:  # retried on the next poll
            poll_errors += 1
            job = {}
        status, counts = job.get("status", status), _summary(job) or counts
        if status in ("SUCCEEDED", "FAILED"):
            break
        ended = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0)
        if ended >= size:
            # moto marks a parent SUCCEEDED only when every child did, and never FAILED.
            reason = f"every child ended but the parent stayed {status}"
            break
        if time.monotonic() > deadline:
            reason = (
                f"did not finish within {timeout_s:.0f} s ({counts.get('SUCCEEDED', 0)}/{size} SUCCEEDED)"
            )
            break
        time.sleep(POLL_INTERVAL_S)
    wall = time.perf_counter() - t0
    after = usage()
    ok = status == "SUCCEEDED"
    if not ok:
        reason = f"{reason or 'parent ' + status}; statusSummary {counts}"
        why = _first_failed_child(client, job_id)
        if why:
            reason += f"; a FAILED child says: {why}"
    result: dict[str, Any] = {
        "n": size,
        "finished": ok,
        "wall_s": wall if ok else None,
        "children_per_s": size / wall if ok else None,
        "submit_ms": submit_ms,
        "status": status,
        "status_summary": counts,
        "polls": polls,
        "poll_errors": poll_errors,
        "cpu_s": after.cpu_s - before.cpu_s,
        "cpu_s_per_1000": (after.cpu_s - before.cpu_s) / size * 1000,
        "peak_rss_mib": after.peak_rss_kib / 1024,
    }
    if reason and not ok:
        result["reason"] = (
            f"{reason}; statusSummary {counts}"[:400] if "statusSummary" not in reason else reason
        )
    return result

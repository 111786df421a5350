"""End to end: N trivial jobs submitted, time until every one has SUCCEEDED.

One client submits from a thread while the main thread polls DescribeJobs (100 ids a call) for the jobs
not yet finished, as a real caller waiting on a batch would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from bench.client import Network, make_client, setup_fixture
from bench.stats import summarize

POLL_INTERVAL_S = 0.2
DESCRIBE_BATCH = 100
TERMINAL = ("SUCCEEDED", "FAILED")


def run_e2e(
    endpoint: str, net: Network, n: int, timeout_s: float, run: int, job_ids: set[str] | None = None
) -> dict[str, Any]:
    """`job_ids`, if given, receives every submitted id as it is known (for container cleanup)."""
    setup = make_client(endpoint)
    # An ENABLED environment: here jobs must run, at most maxvCpus/vcpus at a time.
    fx = setup_fixture(setup, net, f"e2e{run}n{n}", ce_state="ENABLED")

    submitted: list[tuple[str, float]] = []  # (job id, client time of submission)
    lock = threading.Lock()
    submit_errors: list[str] = []
    done_submitting = threading.Event()

    def submitter() -> None:
        c = make_client(endpoint)
        try:
            for i in range(n):
                t = time.time()
                try:
                    resp = c.submit_job(
                        jobName=f"e2e-{i}", jobQueue=fx.queue, jobDefinition=fx.job_definition
                    )
                except Exception as exc:  # counted and reported
                    submit_errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                with lock:
                    submitted.append((resp["jobId"], t))
                if job_ids is not None:
                    job_ids.add(resp["jobId"])
        finally:
            done_submitting.set()

    poller = make_client(endpoint)
    start = time.time()
    deadline = time.monotonic() + timeout_s
    thread = threading.Thread(target=submitter, daemon=True)
    thread.start()

    finished: dict[str, dict[str, Any]] = {}  # job id -> describe entry at first terminal sighting
    seen_at: dict[str, float] = {}  # job id -> client time it was first seen terminal
    poll_errors = 0
    timed_out = False
    while True:
        with lock:
            pending = [jid for jid, _ in submitted if jid not in finished]
        for k in range(0, len(pending), DESCRIBE_BATCH):
            try:
                jobs = poller.describe_jobs(jobs=pending[k : k + DESCRIBE_BATCH])["jobs"]
            except Exception:  # a failed poll is retried on the next sweep
                poll_errors += 1
                continue
            now = time.time()
            for j in jobs:
                if j.get("status") in TERMINAL:
                    finished[j["jobId"]] = j
                    seen_at[j["jobId"]] = now
        if done_submitting.is_set():
            with lock:
                if len(finished) >= len(submitted):
                    break
        if time.monotonic() > deadline:
            timed_out = True
            break
        time.sleep(POLL_INTERVAL_S)
    end = max(seen_at.values(), default=time.time())
    thread.join(timeout=5)

    submit_time = dict(submitted)
    statuses = Counter(j.get("status") for j in finished.values())
    succeeded = [jid for jid, j in finished.items() if j.get("status") == "SUCCEEDED"]
    # Server timestamps where both are present (ms since epoch); else the client's view, which is
    # coarser by up to one poll interval.
    server_lat: list[float] = []
    client_lat: list[float] = []
    for jid in succeeded:
        j = finished[jid]
        created, stopped = j.get("createdAt"), j.get("stoppedAt")
        if isinstance(created, int) and isinstance(stopped, int) and created > 0 and stopped >= created:
            server_lat.append((stopped - created) / 1000.0)
        else:
            client_lat.append(seen_at[jid] - submit_time[jid])
    lat = server_lat if len(server_lat) >= len(client_lat) else client_lat
    all_ok = len(succeeded) == n
    result: dict[str, Any] = {
        "n": n,
        "submitted": len(submitted),
        "succeeded": len(succeeded),
        "statuses": dict(statuses),
        "finished": all_ok,
        "wall_s": end - start if all_ok else None,
        "jobs_per_s": n / (end - start) if all_ok and end > start else None,
        "latency_source": "server createdAt/stoppedAt" if lat is server_lat else "client submit/poll",
        "per_job_s": summarize(lat),
        "submit_errors": len(submit_errors),
        "poll_errors": poll_errors,
    }
    if submit_errors:
        result["first_submit_error"] = submit_errors[0]
    if timed_out:
        result["reason"] = (
            f"did not finish within {timeout_s:.0f} s ({len(succeeded)}/{n} SUCCEEDED, "
            f"{len(submitted)} submitted)"
        )
    elif not all_ok:
        failed = [j for j in finished.values() if j.get("status") == "FAILED"]
        why = ""
        if failed:
            container = failed[0].get("container") or {}
            why = failed[0].get("statusReason") or container.get("reason") or "no statusReason given"
            if container.get("exitCode") is not None:
                why += f" (exit code {container['exitCode']})"
        elif submit_errors:
            why = submit_errors[0]
        result["reason"] = f"{len(succeeded)}/{n} SUCCEEDED, {len(failed)} FAILED: {why}"[:300]
    return result

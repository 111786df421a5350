"""SubmitJob from several client processes at once (throughput and scale seeding).

Processes, not threads: boto3 request signing and parsing are CPU-bound Python, so threads in one client
process would measure the client's GIL rather than the server. Each process uses either a boto3 client or,
with `light=True`, a bench.light.LightClient (signed HTTP without boto3); the loop is the same.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

# spawn, not fork: each worker starts clean and builds its own boto3 client after the start.
_CTX = mp.get_context("spawn")
_SAMPLE_IDS_PER_WORKER = 2000
_MAX_CONSECUTIVE_ERRORS = 20


@dataclass
class SubmitResult:
    submitted: int = 0
    errors: int = 0
    wall_s: float = 0.0
    first_error: str | None = None
    sample_ids: list[str] = field(default_factory=list)
    stopped_by_deadline: bool = False

    @property
    def rate(self) -> float | None:
        return self.submitted / self.wall_s if self.wall_s > 0 and self.submitted else None


def _worker(
    endpoint: str,
    queue: str,
    job_definition: str,
    count: int,
    prefix: str,
    deadline: float,
    barrier: Any,
    out: Any,
    light: bool = False,
    window_s: float | None = None,
) -> None:
    start = end = time.monotonic()
    submitted = errors = consecutive = 0
    first_error: str | None = None
    sample: list[str] = []
    by_deadline = False
    try:
        client: Any
        if light:
            from bench.light import LightClient

            client = LightClient(endpoint)
        else:
            from bench.client import make_client

            client = make_client(endpoint)
        # One untimed call opens the connection, so the timed window starts with a warm client.
        # The timed loop reports errors; this call only warms up.
        with contextlib.suppress(Exception):
            client.describe_job_queues(jobQueues=[queue])
        barrier.wait(timeout=120)
        start = time.monotonic()
        # A window is the measurement's length, counted from the common start; the deadline is a limit.
        window_end = start + window_s if window_s is not None else float("inf")
        for i in range(count):
            now = time.monotonic()
            if now > deadline:
                by_deadline = True
                break
            if now > window_end:
                break
            try:
                resp = client.submit_job(
                    jobName=f"{prefix}-{i}", jobQueue=queue, jobDefinition=job_definition
                )
            except Exception as exc:  # any failure counts, the message goes into the report
                errors += 1
                consecutive += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                if consecutive >= _MAX_CONSECUTIVE_ERRORS:
                    break
                continue
            consecutive = 0
            submitted += 1
            job_id = resp.get("jobId")
            # Reservoir sample: the scale workload needs ids spread over the whole stored set.
            if job_id:
                if len(sample) < _SAMPLE_IDS_PER_WORKER:
                    sample.append(job_id)
                else:
                    j = random.randrange(submitted)
                    if j < _SAMPLE_IDS_PER_WORKER:
                        sample[j] = job_id
    except BaseException as exc:  # report, never leave the parent waiting
        first_error = first_error or f"worker failed: {type(exc).__name__}: {exc}"[:300]
    finally:
        end = time.monotonic()
        out.put((start, end, submitted, errors, first_error, sample, by_deadline))


def submit_many(
    endpoint: str,
    queue: str,
    job_definition: str,
    procs: int,
    total: int,
    deadline_s: float,
    prefix: str,
    light: bool = False,
    window_s: float | None = None,
) -> SubmitResult:
    """Submit `total` jobs split over `procs` processes; wall time is first start to last finish.
    With `light`, each process uses the light signed-HTTP client instead of boto3. With `window_s`, each
    process stops that long after the common start even if its share is not done: a rate measured over a
    fixed window costs the same time on a slow server as on a fast one."""
    barrier = _CTX.Barrier(procs)
    out = _CTX.Queue()
    deadline = time.monotonic() + deadline_s
    share = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
    workers = [
        _CTX.Process(
            target=_worker,
            args=(
                endpoint,
                queue,
                job_definition,
                share[i],
                f"{prefix}-p{i}",
                deadline,
                barrier,
                out,
                light,
                window_s,
            ),
            daemon=True,
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    rows: list[tuple[Any, ...]] = []
    # The deadline plus slack: a worker stuck inside one slow call still reports eventually.
    give_up = time.monotonic() + deadline_s + 900
    while len(rows) < procs:
        try:
            rows.append(out.get(timeout=5))
        except Empty:
            if time.monotonic() > give_up or not any(w.is_alive() for w in workers):
                # A worker killed outright (OOM, a signal) never reports: take what arrived and stop.
                with contextlib.suppress(Empty):
                    while len(rows) < procs:
                        rows.append(out.get(timeout=1))
                break
    for w in workers:
        w.join(timeout=30)
        if w.is_alive():
            w.terminate()
    result = SubmitResult()
    if len(rows) < procs:
        result.first_error = f"{procs - len(rows)} of {procs} client processes never reported"
    if not rows:
        return result
    result.wall_s = max(r[1] for r in rows) - min(r[0] for r in rows)
    for _s, _e, submitted, errors, first_error, sample, by_deadline in rows:
        result.submitted += submitted
        result.errors += errors
        result.first_error = result.first_error or first_error
        result.sample_ids.extend(sample)
        result.stopped_by_deadline |= by_deadline
    return result

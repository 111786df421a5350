"""SubmitJob from several client processes at once (throughput and scale seeding).

Processes, not threads: boto3 request signing and parsing are CPU-bound Python, so threads in one client
process would measure the client's GIL rather than the server. Each process uses either a boto3 client or,
with `light=True`, a bench.light.LightClient (signed HTTP without boto3); the loop is the same.

The processes are started once and reused by every round: starting four fresh Python processes that
import boto3 costs more than a second of this machine's two CPUs, which a run of 15 rounds per repetition
would pay again and again. A round is released only when every process it uses has its client built and
warm (a barrier made of messages: each process says it is ready, then waits for "go").
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import random
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

# spawn, not fork: each worker starts clean and builds its own clients after the start.
_CTX = mp.get_context("spawn")
_SAMPLE_IDS_PER_WORKER = 2000
_MAX_CONSECUTIVE_ERRORS = 20
_READY_TIMEOUT_S = 120.0


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


@dataclass(frozen=True)
class _Round:
    """One process's share of a round; sent to the worker through its inbox."""

    endpoint: str
    queue: str
    job_definition: str
    count: int
    prefix: str
    deadline: float  # time.monotonic() value; CLOCK_MONOTONIC is the same in every process
    light: bool
    window_s: float | None


def _client(cache: dict[tuple[str, bool], Any], endpoint: str, light: bool) -> Any:
    """One client per (endpoint, kind) for the life of the worker, as a long-running caller keeps one."""
    key = (endpoint, light)
    if key not in cache:
        if light:
            from bench.light import LightClient

            cache[key] = LightClient(endpoint)
        else:
            from bench.client import make_client

            cache[key] = make_client(endpoint)
    return cache[key]


def _submit(client: Any, r: _Round, start: float) -> tuple[int, int, str | None, list[str], bool]:
    submitted = errors = consecutive = 0
    first_error: str | None = None
    sample: list[str] = []
    by_deadline = False
    # A window is the measurement's length, counted from the common start; the deadline is a limit.
    window_end = start + r.window_s if r.window_s is not None else float("inf")
    for i in range(r.count):
        now = time.monotonic()
        if now > r.deadline:
            by_deadline = True
            break
        if now > window_end:
            break
        try:
            resp = client.submit_job(
                jobName=f"{r.prefix}-{i}", jobQueue=r.queue, jobDefinition=r.job_definition
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
    return submitted, errors, first_error, sample, by_deadline


def _worker(index: int, inbox: Any, out: Any) -> None:
    """Serve rounds until told to stop (None). Every round ends with exactly one result on `out`."""
    clients: dict[tuple[str, bool], Any] = {}
    while True:
        r: _Round | None = inbox.get()
        if r is None:
            return
        row: tuple[int, int, str | None, list[str], bool] = (0, 0, None, [], False)
        client: Any = None
        try:
            if r.endpoint not in {endpoint for endpoint, _ in clients}:
                clients.clear()  # the previous server is gone
            client = _client(clients, r.endpoint, r.light)
            # One untimed call opens the connection, so the timed window starts with a warm client.
            # The timed loop reports errors; this call only warms up.
            with contextlib.suppress(Exception):
                client.describe_job_queues(jobQueues=[r.queue])
        except Exception as exc:  # reported as this process's share of the round
            row = (0, 0, f"worker failed: {type(exc).__name__}: {exc}"[:300], [], False)
        # Whatever happened, the round's protocol is followed: ready, go, done.
        out.put(("ready", index))
        inbox.get()  # "go"
        start = time.monotonic()
        try:
            if client is not None:
                row = _submit(client, r, start)
        except Exception as exc:  # report, never leave the parent waiting
            row = (0, 0, f"worker failed: {type(exc).__name__}: {exc}"[:300], [], False)
        out.put(("done", index, start, time.monotonic(), *row))


class SubmitPool:
    """Client processes kept alive between rounds; grows to the largest round asked of it."""

    def __init__(self) -> None:
        self._out = _CTX.Queue()
        self._workers: list[tuple[Any, Any]] = []  # (process, inbox)

    def _ensure(self, procs: int) -> None:
        # A worker that died (killed, OOM) is replaced; its slot keeps its index.
        for i, (proc, _inbox) in enumerate(self._workers):
            if not proc.is_alive():
                self._workers[i] = self._start(i)
        while len(self._workers) < procs:
            self._workers.append(self._start(len(self._workers)))

    def _start(self, index: int) -> tuple[Any, Any]:
        inbox = _CTX.Queue()
        proc = _CTX.Process(target=_worker, args=(index, inbox, self._out), daemon=True)
        proc.start()
        return proc, inbox

    def _collect(self, kind: str, count: int, used: list[int], give_up: float) -> list[tuple[Any, ...]]:
        """`count` messages of `kind` from the workers in `used`; fewer if they die or time runs out."""
        rows: list[tuple[Any, ...]] = []
        while len(rows) < count:
            try:
                msg = self._out.get(timeout=1)
            except Empty:
                alive = [i for i in used if self._workers[i][0].is_alive()]
                if time.monotonic() > give_up or len(alive) < count - len(rows):
                    break
                continue
            if msg[0] == kind and msg[1] in used:
                rows.append(msg)
        return rows

    def submit_many(
        self,
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
        With `light`, each process uses the light signed-HTTP client instead of boto3. With `window_s`,
        each process stops that long after the common start even if its share is not done: a rate
        measured over a fixed window costs the same time on a slow server as on a fast one."""
        self._drain()
        self._ensure(procs)
        deadline = time.monotonic() + deadline_s
        share = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
        used = list(range(procs))
        for i in used:
            r = _Round(endpoint, queue, job_definition, share[i], f"{prefix}-p{i}", deadline, light, window_s)
            self._workers[i][1].put(r)
        ready = self._collect("ready", procs, used, time.monotonic() + _READY_TIMEOUT_S)
        for _ready, i in ready:
            self._workers[i][1].put("go")
        # The deadline plus slack: a worker stuck inside one slow call still reports eventually.
        rows = self._collect("done", len(ready), used, time.monotonic() + deadline_s + 900)
        result = SubmitResult()
        if len(rows) < procs:
            result.first_error = f"{procs - len(rows)} of {procs} client processes never reported"
            # A worker that never reported may still be inside the round: start afresh next time.
            self.close()
        if not rows:
            return result
        result.wall_s = max(r[3] for r in rows) - min(r[2] for r in rows)
        for _done, _i, _s, _e, submitted, errors, first_error, sample, by_deadline in rows:
            result.submitted += submitted
            result.errors += errors
            result.first_error = result.first_error or first_error
            result.sample_ids.extend(sample)
            result.stopped_by_deadline |= by_deadline
        return result

    def _drain(self) -> None:
        with contextlib.suppress(Empty):
            while True:
                self._out.get_nowait()

    def close(self) -> None:
        for _proc, inbox in self._workers:
            with contextlib.suppress(Exception):
                inbox.put(None)
        for proc, _inbox in self._workers:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._workers = []


_POOL: SubmitPool | None = None


def shared_pool() -> SubmitPool:
    """One pool for the whole run, started on first use and closed at exit."""
    global _POOL
    if _POOL is None:
        _POOL = SubmitPool()
        atexit.register(_POOL.close)
    return _POOL

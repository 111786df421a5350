"""Raw reference costs on this machine: what the work costs without any Batch server in the way."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.client import make_client
from bench.dockerenv import DockerInfo
from bench.parallel import shared_pool
from bench.settings import BENCH_DIR, DOCKER_RUN, E2E_PARALLELISM, REPO_DIR, SubmitRounds
from bench.stats import summarize
from bench.targets import free_port


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed_run(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def _parallel(argv: list[str], n: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """n runs, E2E_PARALLELISM at a time: the floor for the end-to-end workload's wall time."""
    cpu0 = _children_cpu_s()
    t0 = time.perf_counter()

    def one(_: int) -> float:
        _timed_run(argv, env)
        return time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=E2E_PARALLELISM) as pool:
        done_at = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    return {
        "n": n,
        "parallelism": E2E_PARALLELISM,
        "wall_s": wall,
        "jobs_per_s": n / wall,
        # Completion time of each run counted from the start of the batch: the same quantity as the
        # end-to-end "submit to SUCCEEDED" of jobs that were all submitted at once.
        "per_job_s": summarize(done_at),
        # Child CPU only: the processes (or docker CLI clients) themselves, like a server's job costs.
        "cpu_s_per_1000": (_children_cpu_s() - cpu0) / n * 1000,
    }


def fork_exec(n: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    single = [_timed_run(["/bin/true"]) * 1000.0 for _ in range(n)]
    return {"single_ms": summarize(single), "parallel": {str(s): _parallel(["/bin/true"], s) for s in sizes}}


def docker_run(docker: DockerInfo, n: int, parallel_n: int) -> dict[str, Any]:
    env = docker.env()
    _timed_run(DOCKER_RUN, env)  # first run pays for one-off setup (network, layer cache); not counted
    single = [_timed_run(DOCKER_RUN, env) * 1000.0 for _ in range(n)]
    return {"single_ms": summarize(single), "parallel": _parallel(DOCKER_RUN, parallel_n, env)}


@contextlib.contextmanager
def noop_endpoint() -> Iterator[tuple[str, int]]:
    """bench.noop_server in a child process of its own (its own GIL); yields its endpoint and pid."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.noop_server", str(port)],
        env=env,
        cwd=BENCH_DIR.parent,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield endpoint, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def noop_api(reps: int, rounds: SubmitRounds) -> dict[str, Any]:
    """boto3 SubmitJob against bench.noop_server: the client-side floor of every API latency."""
    with noop_endpoint() as (endpoint, _pid):
        c = make_client(endpoint)
        for _ in range(5):
            c.submit_job(jobName="warm", jobQueue="q", jobDefinition="jd")
        lat = []
        for i in range(reps):
            t0 = time.perf_counter()
            c.submit_job(jobName=f"n{i}", jobQueue="q", jobDefinition="jd")
            lat.append((time.perf_counter() - t0) * 1000.0)
        pool = shared_pool()
        tp = {
            str(p): pool.submit_many(
                endpoint, "q", "jd", p, rounds.jobs, 300, prefix="noop", window_s=rounds.window_s
            ).rate
            for p in rounds.procs
        }
        return {"submit_ms": summarize(lat), "throughput": tp}

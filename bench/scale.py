"""Latency with many jobs stored: DescribeJobs (100 ids), ListJobs (one page), SubmitJob.

Jobs are seeded through the API (SubmitJob from many light-client processes, bench.light) on a queue
whose compute environment is DISABLED, so on batchd they stay RUNNABLE. A step that cannot be seeded
within the per-step time limit is measured where it got to, and the steps after it are not attempted.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.client import Client, Network, make_client, setup_fixture
from bench.parallel import shared_pool
from bench.stats import summarize
from bench.targets import Server, log


def _sample(fn: Callable[[], Any], samples: int, budget_s: float) -> dict[str, Any]:
    """Up to `samples` timed calls, fewer if they use up `budget_s` (at least one is always made)."""
    lat: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    for _ in range(samples):
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # counted and reported
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        else:
            lat.append((time.perf_counter() - t0) * 1000.0)
        if time.monotonic() - start > budget_s:
            break
    row: dict[str, Any] = dict(summarize(lat))
    row["errors"] = len(errors)
    if errors:
        row["first_error"] = errors[0]
    return row


def _dominant_status(c: Client, ids: list[str]) -> str | None:
    """The status most seeded jobs are in (RUNNABLE on batchd, FAILED on the peers without Docker); the
    ListJobs figure asks for that status so that every target returns a full page."""
    if not ids:
        return None
    jobs = c.describe_jobs(jobs=random.sample(ids, min(100, len(ids))))["jobs"]
    counts = Counter(j.get("status") for j in jobs)
    return counts.most_common(1)[0][0] if counts else None


def run_scale(
    server: Server,
    net: Network,
    steps: tuple[int, ...],
    samples: int,
    op_budget_s: float,
    step_timeout_s: float,
    procs: int,
) -> list[dict[str, Any]]:
    c = make_client(server.endpoint)
    fx = setup_fixture(c, net, "scale", ce_state="DISABLED")
    stored = 0
    ids: list[str] = []
    results: list[dict[str, Any]] = []
    for step in steps:
        before = server.usage()
        log(f"  {server.spec.name}: seeding {stored} -> {step} jobs with {procs} processes")
        res = shared_pool().submit_many(
            server.endpoint,
            fx.queue,
            fx.job_definition,
            procs,
            step - stored,
            step_timeout_s,
            prefix=f"s{step}",
            # Seeding is set-up, not a figure of this section: the light client spends less of the
            # machine's CPU per job than boto3, which leaves more of it to the server being filled.
            light=True,
        )
        after = server.usage()
        stored += res.submitted
        ids.extend(res.sample_ids)
        row: dict[str, Any] = {
            "step": step,
            "stored": stored,
            "reached": stored >= step,
            "seed_jobs_per_s": res.rate,
            "seed_errors": res.errors,
            "seed_cpu_s_per_1000": (after.cpu_s - before.cpu_s) / res.submitted * 1000
            if res.submitted
            else None,
            "rss_mib": after.rss_kib / 1024,
            "peak_rss_mib": after.peak_rss_kib / 1024,
        }
        if res.first_error:
            row["first_seed_error"] = res.first_error
        if not server.alive():
            row["reason"] = f"server died while seeding: {server.log_tail()}"
            results.append(row)
            break
        if stored < step:
            why = f"time limit {step_timeout_s:.0f} s" if res.stopped_by_deadline else "errors"
            row["reason"] = f"stopped at {stored} of {step} jobs ({why})"
        # Give peers a moment to move freshly seeded jobs out of SUBMITTED, so the status is stable.
        time.sleep(1.0)
        status = _dominant_status(c, ids)
        row["list_status"] = status
        log(f"  {server.spec.name}: measuring at {stored} stored jobs (list status {status})")
        row["DescribeJobs"] = _sample(
            lambda: c.describe_jobs(jobs=random.sample(ids, min(100, len(ids)))), samples, op_budget_s
        )
        page: list[int] = []

        def list_page(status: str | None = status, page: list[int] = page) -> None:
            kwargs: dict[str, Any] = {"jobQueue": fx.queue, "maxResults": 100}
            if status:
                kwargs["jobStatus"] = status
            page.append(len(c.list_jobs(**kwargs)["jobSummaryList"]))

        row["ListJobs"] = _sample(list_page, samples, op_budget_s)
        # Peers without pagination return every matching job; the page size shows it.
        row["ListJobs"]["page_size"] = max(page, default=0)
        row["SubmitJob"] = _sample(
            lambda: c.submit_job(jobName="probe", jobQueue=fx.queue, jobDefinition=fx.job_definition),
            samples,
            op_budget_s,
        )
        stored += row["SubmitJob"].get("n", 0)
        results.append(row)
        if "reason" in row:
            break
    return results

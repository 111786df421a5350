"""Reading job output through the CloudWatch Logs API: does a page cost the same in a stream of a thousand
lines as in one of ten million?

On batchd each stream is written by a real job (`seq 1 N` on the local executor), then read with boto3's
`logs` client: GetLogEvents from the head, from the tail (the default, what `aws logs get-log-events`
shows), from the middle (startTime), and FilterLogEvents' first page, with no pattern and with one that
matches a single line (a search that reads the whole stream, a bounded part per call). moto's Logs API is
the peer: it has no job output of its own, so the same lines are put there with PutLogEvents, up to the
size it takes in reasonable time. The raw reference is reading and decoding one page of the same file
directly in this process: what a page costs without HTTP and without batchd.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.client import Client, make_client, provision_network, setup_fixture
from bench.stats import summarize
from bench.targets import Server, log

GROUP = "/aws/batch/job"
# PutLogEvents takes at most 10,000 events (1 MB) per call.
PUT_BATCH = 10_000
# Every read asks for this many events, so a page holds the same whatever the stream's size (the smallest
# stream has exactly this many lines).
PAGE = 1000


def _timed(fn: Callable[[], Any], samples: int) -> dict[str, Any]:
    lat: list[float] = []
    last: Any = None
    for _ in range(samples):
        t0 = time.perf_counter()
        last = fn()
        lat.append((time.perf_counter() - t0) * 1000.0)
    row: dict[str, Any] = dict(summarize(lat))
    row["events"] = len(last.get("events", [])) if isinstance(last, dict) else None
    return row


def _reads(logs: Client, group: str, stream: str, lines: int, middle_ts: int, samples: int) -> dict[str, Any]:
    """The timed reads, the same on every target."""
    rare = str(lines)  # the last line: a search must read the whole stream to find it
    one = {"logGroupName": group, "logStreamName": stream, "limit": PAGE}
    streams = {"logGroupName": group, "logStreamNames": [stream], "limit": PAGE}
    return {
        "head": _timed(lambda: logs.get_log_events(**one, startFromHead=True), samples),
        "tail": _timed(lambda: logs.get_log_events(**one), samples),
        "middle": _timed(
            lambda: logs.get_log_events(**one, startFromHead=True, startTime=middle_ts), samples
        ),
        "filter_page": _timed(lambda: logs.filter_log_events(**streams), samples),
        "filter_rare_first_call": _timed(
            lambda: logs.filter_log_events(**streams, filterPattern=f'"{rare}"'), samples
        ),
    }


def _search_all(logs: Client, group: str, stream: str, pattern: str) -> dict[str, Any]:
    """A whole search, page by page until no nextToken: calls, seconds, what it found."""
    t0 = time.perf_counter()
    calls, found = 0, []
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNames": [stream], "filterPattern": pattern}
    while True:
        page = logs.filter_log_events(**kwargs)
        calls += 1
        found += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    return {"calls": calls, "seconds": time.perf_counter() - t0, "found": found[:3]}


def _raw_page(path: Path) -> dict[str, Any]:
    """The floor: the last PAGE lines of the file read and decoded here, no HTTP, no server."""
    lat: list[float] = []
    for _ in range(20):
        t0 = time.perf_counter()
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - 128 * PAGE))  # a line of `seq` output is under 128 bytes
            data = file.read()
        events = [json.loads(line) for line in data.split(b"\n")[1:-1][-PAGE:]]
        lat.append((time.perf_counter() - t0) * 1000.0)
    row: dict[str, Any] = dict(summarize(lat))
    row["events"] = len(events)
    return row


def run_logs_batchd(
    server: Server, sizes: tuple[int, ...], samples: int, job_timeout_s: float
) -> dict[str, Any]:
    batch = make_client(server.endpoint)
    logs = make_client(server.endpoint, "logs")
    fx = setup_fixture(batch, provision_network(server.endpoint, "batchd"), "logs", ce_state="ENABLED")
    results: dict[str, Any] = {}
    for lines in sizes:
        name = f"seq{lines}"
        batch.register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": "busybox",
                "command": ["seq", "1", str(lines)],
                "vcpus": 1,
                "memory": 64,
            },
        )
        log(f"logs: batchd, a job writing {lines:,} lines")
        t0 = time.monotonic()
        job_id = batch.submit_job(jobName=name, jobQueue=fx.queue, jobDefinition=name)["jobId"]
        while True:
            job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                break
            if time.monotonic() - t0 > job_timeout_s:
                raise RuntimeError(f"the {lines:,}-line job did not end within {job_timeout_s:.0f} s")
            time.sleep(0.5)
        if job["status"] != "SUCCEEDED":
            raise RuntimeError(f"the {lines:,}-line job failed: {job.get('statusReason')}")
        written_s = time.monotonic() - t0
        stream = job["container"]["logStreamName"]
        path = server.workdir / "data" / "logs" / "123456789012" / f"{stream}.log"
        first = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=1)
        last = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=1)
        middle_ts = (first["events"][0]["timestamp"] + last["events"][0]["timestamp"]) // 2
        log(f"logs: batchd, reading the {lines:,}-line stream")
        row = _reads(logs, GROUP, stream, lines, middle_ts, samples)
        row["search_rare"] = _search_all(logs, GROUP, stream, f'"{lines}"')
        row["raw_page"] = _raw_page(path)
        row["written_s"] = written_s
        row["file_mib"] = path.stat().st_size / 2**20
        results[str(lines)] = row
    return results


def run_logs_moto(server: Server, sizes: tuple[int, ...], samples: int) -> dict[str, Any]:
    logs = make_client(server.endpoint, "logs")
    logs.create_log_group(logGroupName=GROUP)
    results: dict[str, Any] = {}
    for lines in sizes:
        stream = f"seq{lines}/default/x"
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        log(f"logs: moto, putting {lines:,} lines")
        t0 = time.monotonic()
        base = int(time.time() * 1000) - lines // 100
        for start in range(0, lines, PUT_BATCH):
            batch = [
                {"timestamp": base + i // 100, "message": str(i + 1)}
                for i in range(start, min(lines, start + PUT_BATCH))
            ]
            logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=batch)
        put_s = time.monotonic() - t0
        log(f"logs: moto, reading the {lines:,}-line stream")
        row = _reads(logs, GROUP, stream, lines, base + lines // 200, samples)
        row["search_rare"] = _search_all(logs, GROUP, stream, f'"{lines}"')
        row["written_s"] = put_s
        results[str(lines)] = row
    return results

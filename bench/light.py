"""A light Batch client: signed JSON over one keep-alive HTTP connection, without boto3.

On a small machine boto3 is the bottleneck of every API figure: its SubmitJob against a server that does
nothing costs about a millisecond and tops out below the rates the servers can take. This client does the
minimum a real caller must do, so the figures it produces show what the server can take:

- one persistent `http.client.HTTPConnection` (keep-alive, TCP_NODELAY) per client;
- each request signed with botocore's own `SigV4Auth` (the server checks the signature as it would
  boto3's) on a `botocore.awsrequest.AWSRequest`;
- the JSON body built with `json.dumps` on every call, the response read in full and `json.loads`-ed;
- no retries: a non-2xx status, a body that is not JSON or a broken connection raises `LightError`, and
  the caller counts it as an error. After a failure the next call opens a fresh connection.

The REST paths are those of botocore's service model for batch (2016-08-10), all `POST` with
`Content-Type: application/json`. Only botocore's auth modules are imported, so worker processes stay
cheap to start.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.settings import REGION
from bench.stats import summarize

SERVICE = "batch"
PATHS = {
    "SubmitJob": "/v1/submitjob",
    "DescribeJobs": "/v1/describejobs",
    "ListJobs": "/v1/listjobs",
    "DescribeJobQueues": "/v1/describejobqueues",
}
# The operations timed by the latency part of the light workload, in report order.
LATENCY_OPERATIONS = ("SubmitJob", "DescribeJobs", "ListJobs")
WARMUP_CALLS = 5
_TIMEOUT_S = 600.0  # as long as boto3's read timeout in bench.client: a peer may return 100k jobs


class LightError(Exception):
    """A call that did not succeed: HTTP status outside 2xx, unreadable body, or a connection failure."""


class LightClient:
    """The few Batch operations the bench needs, with boto3's method names and keyword arguments."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"light client needs an http:// endpoint, got {endpoint!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        # What SigV4 signs as the host header (botocore drops only a default port), sent as is.
        self._host_header = parts.netloc
        self._base = f"http://{parts.netloc}"
        self._auth = SigV4Auth(Credentials("bench", "bench"), SERVICE, REGION)
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        path = PATHS[operation]
        body = json.dumps(params).encode()
        req = AWSRequest(
            method="POST",
            url=self._base + path,
            data=body,
            headers={"Content-Type": "application/json", "Host": self._host_header},
        )
        self._auth.add_auth(req)
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=_TIMEOUT_S)
        try:
            self._conn.request("POST", path, body=body, headers=dict(req.headers.items()))
            resp = self._conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            # The connection is in an unknown state; the next call starts a new one. This call failed.
            self.close()
            raise LightError(f"{operation}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise LightError(f"{operation}: HTTP {resp.status}: {data[:200].decode(errors='replace')}")
        try:
            out = json.loads(data) if data else {}
        except ValueError as exc:
            raise LightError(f"{operation}: response is not JSON: {data[:200]!r}") from exc
        if not isinstance(out, dict):
            raise LightError(f"{operation}: response is not a JSON object: {data[:200]!r}")
        return out

    # boto3-shaped wrappers, so bench.parallel's worker drives either client the same way.

    def submit_job(self, **params: Any) -> dict[str, Any]:
        return self.call("SubmitJob", params)

    def describe_jobs(self, **params: Any) -> dict[str, Any]:
        return self.call("DescribeJobs", params)

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        return self.call("ListJobs", params)

    def describe_job_queues(self, **params: Any) -> dict[str, Any]:
        return self.call("DescribeJobQueues", params)


def run_light_latency(
    endpoint: str, queue: str, job_definition: str, reps: int, prefix: str
) -> dict[str, Any]:
    """SubmitJob, DescribeJobs of that job and ListJobs of the queue, `reps` times from one light client.

    The same sequence as the job part of the api workload (ListJobs with the default status filter and
    maxResults 100); latency is the whole call: body, signing, round trip, reading and parsing.
    """
    c = LightClient(endpoint)
    samples: dict[str, list[float]] = {op: [] for op in LATENCY_OPERATIONS}
    errors: dict[str, list[str]] = {op: [] for op in LATENCY_OPERATIONS}

    def timed(op: str, fn: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        try:
            out = fn(**params)
        except LightError as exc:
            errors[op].append(str(exc)[:300])
            return None
        samples[op].append((time.perf_counter() - t0) * 1000.0)
        return out

    try:
        # Opens the connection and warms both sides; failures here show up in the timed calls.
        for _ in range(WARMUP_CALLS):
            with contextlib.suppress(LightError):
                c.describe_job_queues(jobQueues=[queue])
        for i in range(reps):
            sub = timed(
                "SubmitJob",
                c.submit_job,
                jobName=f"{prefix}-{i}",
                jobQueue=queue,
                jobDefinition=job_definition,
            )
            job_id = (sub or {}).get("jobId") or "missing"
            timed("DescribeJobs", c.describe_jobs, jobs=[job_id])
            timed("ListJobs", c.list_jobs, jobQueue=queue, maxResults=100)
    finally:
        c.close()
    out: dict[str, Any] = {}
    for op in LATENCY_OPERATIONS:
        row: dict[str, Any] = dict(summarize(samples[op]))
        row["errors"] = len(errors[op])
        if errors[op]:
            row["first_error"] = errors[op][0]
        out[op] = row
    return out

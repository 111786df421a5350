"""`batchd logs JOB_ID`: a job's output, read through the server's own APIs and optionally followed live.

A client like any other: DescribeJobs names the job's log streams (one per attempt) and its log group,
and CloudWatch Logs' GetLogEvents reads them from the same endpoint, so it works against any batchd it
can reach, as `aws logs get-log-events` does. Requests are signed with botocore's usual credentials
(environment, profile) when there are any, and go unsigned otherwise (an open-mode server takes them).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from batchd.domain.log_streams import log_group_of

POLL_SECONDS = 0.2
ENDED = ("SUCCEEDED", "FAILED")


class _Failed(Exception):
    """Reported on stderr; the command exits with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _clients(endpoint: str, region: str | None) -> tuple[Any, Any]:
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config

    session = botocore.session.Session()
    region = region or session.get_config_variable("region") or "us-east-1"
    config = Config(retries={"max_attempts": 2, "mode": "standard"})
    if session.get_credentials() is None:
        config = config.merge(Config(signature_version=UNSIGNED))
    batch = session.create_client("batch", endpoint_url=endpoint, region_name=region, config=config)
    logs = session.create_client("logs", endpoint_url=endpoint, region_name=region, config=config)
    return batch, logs


def _streams(job: dict[str, Any]) -> list[str]:
    """Every attempt's stream in order, then the one of the attempt running now."""
    names = [
        a["container"]["logStreamName"]
        for a in job.get("attempts", [])
        if "logStreamName" in a.get("container", {})
    ]
    current = job.get("container", {}).get("logStreamName")
    if current and current not in names:
        names.append(current)
    return names


def _format(event: dict[str, Any], timestamps: bool) -> str:
    if not timestamps:
        return str(event["message"])
    when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).isoformat(timespec="milliseconds")
    return f"{when} {event['message']}"


class _Reader:
    def __init__(self, batch: Any, logs: Any, endpoint: str) -> None:
        self._batch, self._logs, self._endpoint = batch, logs, endpoint
        self.tokens: dict[str, str] = {}  # stream -> the forward token to go on from

    def _failure(self, exc: Exception) -> _Failed:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return _Failed(f"{error.get('Code')}: {error.get('Message')}", 1)
        return _Failed(f"cannot reach batchd at {self._endpoint}: {exc}", 2)

    def _call(self, method: Any, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(method(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc) from None

    def job(self, job_id: str) -> dict[str, Any]:
        jobs = self._call(self._batch.describe_jobs, jobs=[job_id])["jobs"]
        if not jobs:
            raise _Failed(f"job {job_id} does not exist", 1)
        return dict(jobs[0])

    def drain(self, group: str, stream: str, timestamps: bool) -> None:
        """Prints the stream's events from where the last call ended, to its end now."""
        from botocore.exceptions import BotoCoreError, ClientError

        while True:
            token = self.tokens.get(stream)
            where = {"nextToken": token} if token else {"startFromHead": True}
            try:
                page = self._logs.get_log_events(logGroupName=group, logStreamName=stream, **where)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return  # not made yet: the attempt has not been placed
                raise self._failure(exc) from None
            except BotoCoreError as exc:
                raise self._failure(exc) from None
            for event in page["events"]:
                print(_format(event, timestamps), flush=True)
            self.tokens[stream] = page["nextForwardToken"]
            if page["nextForwardToken"] == token:  # the same token back: the end of the stream
                return


def print_logs(
    endpoint: str, region: str | None, job_id: str, follow: bool, attempt: int | None, timestamps: bool
) -> int:
    try:
        batch, logs = _clients(endpoint, region)
        reader = _Reader(batch, logs, endpoint)
        while True:
            # The status first: output written before the job ended is all read by the pass after it.
            job = reader.job(job_id)
            streams = _streams(job)
            if attempt is not None:
                streams = streams[attempt - 1 : attempt]
            group = log_group_of(job.get("container", {}))
            for stream in streams:
                reader.drain(group, stream, timestamps)
            if not follow or job["status"] in ENDED:
                return 0
            time.sleep(POLL_SECONDS)
    except _Failed as failure:
        print(f"batchd: {failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return 130

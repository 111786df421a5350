"""A job event in the shape AWS EventBridge gives it: "Batch Job State Change"."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from batchd.store.sqlite import JobEvent

DETAIL_TYPE = "Batch Job State Change"
SOURCE = "aws.batch"
# Fixed, so an event's id depends on the event alone: a re-delivery (a stream resumed, a webhook retried
# or replayed after a restart) carries the same id, and receivers can de-duplicate on it.
_ID_NAMESPACE = uuid.UUID("6f0b7d1e-3c55-4b8e-9a51-0d8f5a3b2c71")


def event_id(job_id: str, seq: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{job_id}/{seq}"))


def iso_time(epoch_ms: int) -> str:
    """EventBridge's `time`: whole seconds, UTC, with a Z."""
    return datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def region_of(arn: str) -> str:
    """arn:aws:batch:REGION:ACCOUNT:job/ID → REGION."""
    parts = arn.split(":", 5)
    return parts[3] if len(parts) == 6 else ""


def envelope(event: JobEvent) -> dict[str, Any]:
    job_arn = str(event.doc.get("jobArn", ""))
    return {
        "version": "0",
        "id": event_id(event.job_id, event.seq),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": event.account,
        "time": iso_time(event.at),
        "region": region_of(job_arn),
        "resources": [job_arn] if job_arn else [],
        "detail": event.doc,
    }


def to_json(event: JobEvent) -> str:
    """One line of compact JSON: newlines inside strings are escaped, so it fits one SSE `data:` line."""
    return json.dumps(envelope(event), separators=(",", ":"), allow_nan=False)

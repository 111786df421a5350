"""Array jobs: a parent that never runs and its children `<parent>:<index>` (docs/jobs.md, "Array jobs").

Pure: what a child looks like, which jobs it waits for, and when its parent is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchd.domain.jobs import REASON_ARRAY_SUCCEEDED, JobStatus, array_failed_reason
from batchd.errors import ClientException

MIN_ARRAY_SIZE, MAX_ARRAY_SIZE = 2, 10_000

# The members a child does not share with its parent.
_OWN = ("jobId", "jobArn", "status", "statusReason", "arrayProperties", "dependsOn", "attempts")


def child_id(parent_id: str, index: int) -> str:
    return f"{parent_id}:{index}"


def parent_of(job_id: str) -> str | None:
    """The parent's id of a child id, None for any other job (job ids are UUIDs, without a colon)."""
    parent, colon, index = job_id.rpartition(":")
    return parent if colon and index.isdigit() else None


def child_dependencies(parent: Mapping[str, Any], index: int) -> list[dict[str, str]]:
    """What child `index` waits for: child `index` of each N_TO_N array, the previous child if SEQUENTIAL.
    The parent's untyped dependencies were met before its children were made, so they are not repeated."""
    own: list[dict[str, str]] = []
    for entry in parent.get("dependsOn") or []:
        if entry.get("type") == "N_TO_N":
            own.append({"jobId": child_id(entry["jobId"], index), "type": "N_TO_N"})
        elif entry.get("type") == "SEQUENTIAL" and index > 0:
            own.append({"jobId": child_id(parent["jobId"], index - 1), "type": "SEQUENTIAL"})
    return own


def child_doc(parent: Mapping[str, Any], index: int, status: JobStatus) -> dict[str, Any]:
    """Child `index`'s JobDetail. Nested members are shared with the parent's document, not copied: a
    10,000-child array is made in one pass, and documents are serialised before anything changes them."""
    doc = {k: v for k, v in parent.items() if k not in _OWN}
    job_id = child_id(parent["jobId"], index)
    doc.update(
        jobId=job_id,
        jobArn=f"{parent['jobArn']}:{index}",
        status=status.value,
        attempts=[],
        arrayProperties={"index": index},
        dependsOn=child_dependencies(parent, index),
    )
    return doc


def parent_outcome(counts: Mapping[str, int], size: int) -> tuple[JobStatus, str] | None:
    """SUCCEEDED when every child SUCCEEDED, FAILED once all have ended and any FAILED; else None."""
    succeeded, failed = counts.get("SUCCEEDED", 0), counts.get("FAILED", 0)
    if succeeded + failed < size:
        return None
    if failed:
        return JobStatus.FAILED, array_failed_reason(failed, size)
    return JobStatus.SUCCEEDED, REASON_ARRAY_SUCCEEDED


def array_size_of(properties: Mapping[str, Any] | None) -> int | None:
    """The array's size, or None for an ordinary job (no arrayProperties, or no size in them)."""
    size = (properties or {}).get("size")
    if size is None:
        return None
    if not MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        raise ClientException(
            f"arrayProperties.size must be between {MIN_ARRAY_SIZE} and {MAX_ARRAY_SIZE:,}, got {size}: "
            "leave arrayProperties out to submit one job."
        )
    return int(size)

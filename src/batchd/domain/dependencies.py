"""dependsOn: the jobs a job waits for, and how an array's children wait (N_TO_N, SEQUENTIAL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchd.domain.names import check_job_id
from batchd.errors import ClientException

TYPES = ("N_TO_N", "SEQUENTIAL")


def depends_on_entries(
    entries: Sequence[Mapping[str, Any]], array_size: int | None, limit: int
) -> list[dict[str, Any]]:
    """dependsOn as DescribeJobs shows it: each entry once, its type kept (docs/jobs.md)."""
    if len(entries) > limit:
        raise ClientException(f"dependsOn may name at most {limit} jobs, got {len(entries)}.")
    out: list[dict[str, Any]] = []
    for entry in entries:
        job_id, kind = entry.get("jobId"), entry.get("type")
        if kind is not None and kind not in TYPES:
            raise ClientException(f"dependsOn type must be N_TO_N or SEQUENTIAL, got '{kind}'.")
        if kind is not None and array_size is None:
            raise ClientException(
                f"A dependsOn entry of type {kind} applies to array jobs: "
                "submit with arrayProperties.size, or leave the type out."
            )
        if kind == "SEQUENTIAL":
            if job_id:
                raise ClientException(
                    "A SEQUENTIAL dependency names no jobId: each child waits for the one before it."
                )
            clean: dict[str, Any] = {"type": kind}
        else:
            if not job_id:
                raise ClientException("Every dependsOn entry other than SEQUENTIAL needs a jobId.")
            check_job_id(job_id, "dependsOn jobId")
            clean = {"jobId": job_id} if kind is None else {"jobId": job_id, "type": kind}
        if clean not in out:
            out.append(clean)
    if sum(1 for d in out if d.get("type") == "SEQUENTIAL") > 1:
        raise ClientException("dependsOn may hold one SEQUENTIAL entry.")
    return out

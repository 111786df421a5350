"""CancelJobs and TerminateJobs: CancelJob and TerminateJob for up to 50 jobs in one request, each job
reported on its own (docs/api.md, Jobs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchd.domain.names import check_job_id
from batchd.errors import BatchError, ClientException
from batchd.service.common import Caller, ServiceDeps
from batchd.service.jobs import Jobs

MAX_JOBS = 50
Handler = Callable[[Caller, dict[str, Any]], dict[str, Any]]


class JobBatches:
    def __init__(self, deps: ServiceDeps, jobs: Jobs) -> None:
        self._store = deps.store
        self._jobs = jobs

    def cancel_jobs(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._each(caller, params, self._jobs.cancel_job)

    def terminate_jobs(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return self._each(caller, params, self._jobs.terminate_job)

    def _each(self, caller: Caller, params: dict[str, Any], end: Handler) -> dict[str, Any]:
        job_ids: list[str] = list(dict.fromkeys(params["jobs"]))  # each job once, in the order given
        reason: str = params["reason"]
        if not 1 <= len(job_ids) <= MAX_JOBS:
            raise ClientException(f"jobs must name 1 to {MAX_JOBS} job IDs, got {len(params['jobs'])}.")
        if not reason.strip():
            raise ClientException("reason must not be empty: say why the jobs are being stopped.")
        existing = self._store.get_jobs(caller.account, job_ids)
        successful: list[str] = []
        errors: list[dict[str, str]] = []
        for job_id in job_ids:
            try:
                check_job_id(job_id, "jobs[]")
            except ClientException as error:
                errors.append({"job": job_id, "code": error.error_type, "message": error.message})
                continue
            if job_id not in existing:
                # AWS: "Jobs that can't be found are treated as successfully processed."
                successful.append(job_id)
                continue
            try:
                end(caller, {"jobId": job_id, "reason": reason})
            except BatchError as error:
                errors.append({"job": job_id, "code": error.error_type, "message": error.message})
            else:
                successful.append(job_id)
        return {"successful": successful, "errors": errors}

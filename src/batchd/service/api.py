"""The service: one method per AWS Batch operation, found by its AWS name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchd.service.common import Caller, ServiceDeps
from batchd.service.compute_environments import ComputeEnvironments
from batchd.service.job_definitions import JobDefinitions
from batchd.service.job_queues import JobQueues
from batchd.service.jobs import Jobs

Handler = Callable[[Caller, dict[str, Any]], dict[str, Any]]


class BatchService:
    def __init__(self, deps: ServiceDeps) -> None:
        self.compute_environments = ComputeEnvironments(deps)
        self.job_queues = JobQueues(deps)
        self.job_definitions = JobDefinitions(deps)
        self.jobs = Jobs(deps, self.job_queues, self.job_definitions)
        self.operations: dict[str, Handler] = {
            "CreateComputeEnvironment": self.compute_environments.create,
            "DescribeComputeEnvironments": self.compute_environments.describe,
            "UpdateComputeEnvironment": self.compute_environments.update,
            "DeleteComputeEnvironment": self.compute_environments.delete,
            "CreateJobQueue": self.job_queues.create,
            "DescribeJobQueues": self.job_queues.describe,
            "UpdateJobQueue": self.job_queues.update,
            "DeleteJobQueue": self.job_queues.delete,
            "RegisterJobDefinition": self.job_definitions.register,
            "DescribeJobDefinitions": self.job_definitions.describe,
            "DeregisterJobDefinition": self.job_definitions.deregister,
            "SubmitJob": self.jobs.submit,
            "DescribeJobs": self.jobs.describe,
            "ListJobs": self.jobs.list,
            "CancelJob": self.jobs.cancel,
            "TerminateJob": self.jobs.terminate,
        }

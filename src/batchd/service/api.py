"""The services: one method per AWS operation, named as boto3 names it (SubmitJob → submit_job).

The operations a service implements are found from botocore's model by those names, so there is no
table to keep in step: a model operation with no method is one batchd does not support."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchd.awsmodel import BATCH, method_name, service_model
from batchd.service.common import Caller, ServiceDeps
from batchd.service.compute_environments import ComputeEnvironments
from batchd.service.consumable_resources import ConsumableResources
from batchd.service.job_batches import JobBatches
from batchd.service.job_definitions import JobDefinitions
from batchd.service.job_queues import JobQueues
from batchd.service.jobs import Jobs
from batchd.service.scheduling_policies import SchedulingPolicies
from batchd.service.tags import Tags

Handler = Callable[[Caller, dict[str, Any]], dict[str, Any]]


def find_operations(service: str, parts: tuple[object, ...]) -> dict[str, Handler]:
    """Operation name → the method of `parts` named as that operation, for each the model lists."""
    found: dict[str, Handler] = {}
    for operation in service_model(service).operation_names:
        name = method_name(operation)
        owners = [part for part in parts if callable(getattr(part, name, None))]
        if len(owners) > 1:
            raise TypeError(f"{operation} is implemented twice: by {owners}")
        if owners:
            found[operation] = getattr(owners[0], name)
    return found


class BatchService:
    def __init__(self, deps: ServiceDeps) -> None:
        self.compute_environments = ComputeEnvironments(deps)
        self.scheduling_policies = SchedulingPolicies(deps)
        self.job_queues = JobQueues(deps, self.scheduling_policies)
        self.consumable_resources = ConsumableResources(deps)
        self.job_definitions = JobDefinitions(deps, self.consumable_resources)
        self.jobs = Jobs(deps, self.job_queues, self.job_definitions, self.consumable_resources)
        parts = (
            self.compute_environments,
            self.scheduling_policies,
            self.consumable_resources,
            self.job_queues,
            self.job_definitions,
            self.jobs,
            JobBatches(deps, self.jobs),
            Tags(deps),
        )
        self.operations = find_operations(BATCH, parts)

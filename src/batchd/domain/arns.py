"""ARNs of Batch resources, and resolving "name or ARN" references (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass

PARTITION = "aws"


@dataclass(frozen=True)
class Scope:
    """Where a caller's resources live: the region of the server and the caller's account."""

    region: str
    account_id: str

    def arn(self, resource: str, name: str) -> str:
        return f"arn:{PARTITION}:batch:{self.region}:{self.account_id}:{resource}/{name}"

    def compute_environment_arn(self, name: str) -> str:
        return self.arn("compute-environment", name)

    def job_queue_arn(self, name: str) -> str:
        return self.arn("job-queue", name)

    def job_definition_arn(self, name: str, revision: int) -> str:
        return self.arn("job-definition", f"{name}:{revision}")

    def job_arn(self, job_id: str) -> str:
        return self.arn("job", job_id)

    def name_from(self, reference: str, resource: str) -> str | None:
        """The resource name that a "name or ARN" reference means in this scope, or None.

        An ARN of another type, region or account names nothing here: the caller gets "not found".
        """
        if not reference.startswith("arn:"):
            return reference
        prefix = self.arn(resource, "")
        if reference.startswith(prefix) and len(reference) > len(prefix):
            return reference[len(prefix) :]
        return None


def name_of_arn(arn: str) -> str:
    """The last path element of an ARN (a resource name, or `name:revision` for a job definition)."""
    return arn.rsplit("/", 1)[-1]

"""ARNs of Batch resources, and resolving "name or ARN" references (docs/api.md, ARNs; "Name or ARN"
references)."""

from __future__ import annotations

from dataclasses import dataclass

# Regions outside the commercial partition, by prefix: their ARNs name their own partition.
PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-iso-", "aws-iso"), ("us-isob-", "aws-iso-b"))
PARTITION = "aws"


def partition_of(region: str) -> str:
    """The ARN partition of a region: `aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`."""
    for prefix, partition in PARTITIONS:
        if region.startswith(prefix):
            return partition
    return PARTITION


@dataclass(frozen=True)
class Scope:
    """Where a caller's resources live: the region of the server and the caller's account."""

    region: str
    account_id: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, resource: str, name: str, service: str = "batch") -> str:
        """The ARN of a resource of `service` (Batch unless said: ECS names clusters and tasks)."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}/{name}"

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


def scope_of_arn(arn: str) -> Scope:
    """The region and account an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...) belongs to."""
    parts = arn.split(":")
    return Scope(region=parts[3], account_id=parts[4])


def name_of_arn(arn: str) -> str:
    """The last path element of an ARN (a resource name, or `name:revision` for a job definition)."""
    return arn.rsplit("/", 1)[-1]

"""computeResources of a MANAGED compute environment: the limits AWS puts on them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchd.errors import ClientException

# Environment types that run on EC2 instances, which AWS starts with an ECS instance profile.
INSTANCE_TYPES = ("EC2", "SPOT")


def check_instance_role(resources: Mapping[str, Any]) -> None:
    """AWS requires the ECS instance profile of an EC2 or SPOT environment; Fargate ones have none."""
    if resources.get("type") in INSTANCE_TYPES and not resources.get("instanceRole"):
        raise ClientException(
            f"computeResources.instanceRole is required for a {resources['type']} compute environment: "
            "give the ECS instance profile's name or ARN, for example ecsInstanceRole."
        )


def check_compute_resources(resources: Mapping[str, Any]) -> None:
    """computeResources AWS would accept, as created or as an update leaves them."""
    kind = resources.get("type")
    if kind is None:
        raise ClientException("computeResources.type is required (EC2, SPOT, FARGATE or FARGATE_SPOT).")
    maximum = resources.get("maxvCpus")
    if maximum is None or maximum < 1:
        raise ClientException("computeResources.maxvCpus must be at least 1.")
    minimum = resources.get("minvCpus") or 0
    if minimum < 0:
        raise ClientException("computeResources.minvCpus must not be negative.")
    if minimum > maximum:
        raise ClientException(
            f"computeResources.minvCpus ({minimum}) must not be greater than maxvCpus ({maximum})."
        )
    desired = resources.get("desiredvCpus")
    if desired is not None and not minimum <= desired <= maximum:
        raise ClientException(
            f"computeResources.desiredvCpus ({desired}) must be between minvCpus ({minimum}) "
            f"and maxvCpus ({maximum})."
        )
    bid = resources.get("bidPercentage")
    if bid is not None and not 0 <= bid <= 100:
        raise ClientException(f"computeResources.bidPercentage must be between 0 and 100, got {bid}.")

"""What a compute environment offers the scheduler: its capacity and the executor that runs its jobs."""

from __future__ import annotations

import os
from typing import Any

# Resource kinds as they appear in ARNs (and as the store files them).
CE = "compute-environment"
JQ = "job-queue"
# The tag that chooses an environment's executor (docs/api.md, Compute environments).
EXECUTOR_TAG = "batchd:executor"


def executor_of(detail: dict[str, Any], default: str) -> str:
    """Which executor runs this environment: its `batchd:executor` tag, else the server's default."""
    return str((detail.get("tags") or {}).get(EXECUTOR_TAG, default))


def capacity_vcpus(detail: dict[str, Any]) -> float:
    """vCPUs an environment offers: maxvCpus, or for UNMANAGED unmanagedvCpus, else the host's CPUs."""
    if detail.get("type") == "UNMANAGED":
        given = detail.get("unmanagedvCpus")
        return float(given) if given else float(os.cpu_count() or 1)
    return float((detail.get("computeResources") or {}).get("maxvCpus", 0))

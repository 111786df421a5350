"""Where an attempt's output goes in CloudWatch Logs' terms: its log group and its log stream's name.

As on AWS Batch, a job logs to `/aws/batch/job` as `<definition name>/default/<task id>`, unless its
container's logConfiguration (logDriver `awslogs`) names another `awslogs-group`, or an
`awslogs-stream-prefix`, which then replaces the definition's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_LOG_GROUP = "/aws/batch/job"


def _awslogs_options(container: Mapping[str, Any]) -> Mapping[str, Any]:
    configuration = container.get("logConfiguration") or {}
    if configuration.get("logDriver") != "awslogs":
        return {}
    return configuration.get("options") or {}


def log_group_of(container: Mapping[str, Any]) -> str:
    return str(_awslogs_options(container).get("awslogs-group") or DEFAULT_LOG_GROUP)


def log_stream_name(container: Mapping[str, Any], definition_name: str, task_id: str) -> str:
    prefix = _awslogs_options(container).get("awslogs-stream-prefix") or definition_name
    return f"{prefix}/default/{task_id}"

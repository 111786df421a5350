"""Name and identifier rules of Batch resources (docs/api.md, Names and ids; Limits)."""

from __future__ import annotations

import re

from batchd.errors import ClientException

RESOURCE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
JOB_ID = re.compile(r"[a-zA-Z0-9_:-]{1,128}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")


def check_resource_name(value: str, member: str) -> None:
    if not RESOURCE_NAME.fullmatch(value):
        raise ClientException(
            f"{member} '{value[:200]}' is invalid: "
            "it must be 1 to 128 letters, digits, hyphens or underscores."
        )


def check_job_name(value: str) -> None:
    if not JOB_NAME.fullmatch(value):
        raise ClientException(
            "Job name should match valid pattern: 1 to 128 letters, digits, hyphens or underscores, "
            "starting with a letter or digit."
        )


def check_job_id(value: str, member: str = "jobId") -> None:
    if not JOB_ID.fullmatch(value):
        raise ClientException(
            f"Provided {member} '{value[:200]}' is not supported pattern[a-zA-Z_0-9-]{{1,128}}"
        )

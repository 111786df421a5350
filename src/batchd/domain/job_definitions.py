"""Job definition references: `name`, `name:revision` or an ARN, and the revisions AWS can issue."""

from __future__ import annotations

import re

from batchd.domain.arns import Scope
from batchd.errors import ClientException

JD = "job-definition"
DIGITS = re.compile(r"[0-9]+")
MAX_REVISION = 2**31 - 1


def parse_reference(
    scope: Scope, reference: str, member: str = "jobDefinition"
) -> tuple[str, int | None] | None:
    """(name, revision or None) from an ARN, `name:revision` or a bare name; None when it names nothing.

    A revision that is not ASCII digits names nothing; ASCII digits outside 1 to 2**31-1 are refused.
    """
    tail = scope.name_from(reference, JD)
    if tail is None:
        return None
    name, sep, revision = tail.partition(":")
    if not sep:
        return name, None
    if not DIGITS.fullmatch(revision):
        return None
    return name, check_revision(revision, member)


def check_revision(revision: str, member: str) -> int:
    """The revision that ASCII digits spell, if it is one AWS could have issued (1 to 2**31-1)."""
    digits = revision.lstrip("0")
    if not digits or len(digits) > len(str(MAX_REVISION)) or int(digits) > MAX_REVISION:
        raise ClientException(
            f"{member} revision must be a positive integer from 1 to {MAX_REVISION}, got '{revision[:40]}'."
        )
    return int(digits)

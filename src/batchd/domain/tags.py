"""Tags: the limits AWS documents for the tags of any Batch resource."""

from __future__ import annotations

from collections.abc import Mapping

from batchd.errors import ClientException

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
# AWS keeps keys under this prefix for itself; callers may not set them.
RESERVED_PREFIX = "aws:"


def check_tags(tags: Mapping[str, str] | None, member: str = "tags") -> None:
    """Refuse a tag map AWS would refuse: too many tags, bad key or value lengths, a reserved key."""
    if not tags:
        return
    if len(tags) > MAX_TAGS:
        raise ClientException(f"{member} may hold at most {MAX_TAGS} tags, got {len(tags)}.")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ClientException(
                f"Tag key '{key[:140]}' in {member} must be 1 to {MAX_KEY_LENGTH} characters long."
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise ClientException(
                f"The value of tag '{key}' in {member} must be at most {MAX_VALUE_LENGTH} characters long."
            )
        if key.startswith(RESERVED_PREFIX):
            raise ClientException(
                f"Tag key '{key}' in {member} uses the reserved prefix '{RESERVED_PREFIX}'."
            )

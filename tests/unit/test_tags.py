"""domain/tags.check_tags: AWS's limits on the tags of any Batch resource."""

from __future__ import annotations

import pytest

from batchd.domain.tags import check_tags
from batchd.errors import ClientException


@pytest.mark.parametrize(
    "tags", [None, {}, {"k": ""}, {"k" * 128: "v" * 256}, {f"k{i}": "v" for i in range(50)}]
)
def test_tags_within_the_limits_pass(tags: dict[str, str] | None) -> None:
    check_tags(tags)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({f"k{i}": "v" for i in range(51)}, "tags may hold at most 50 tags, got 51."),
        ({"": "v"}, "Tag key '' in tags must be 1 to 128 characters long."),
        ({"k" * 129: "v"}, f"Tag key '{'k' * 129}' in tags must be 1 to 128 characters long."),
        ({"k": "v" * 257}, "The value of tag 'k' in tags must be at most 256 characters long."),
        ({"aws:owner": "me"}, "Tag key 'aws:owner' in tags uses the reserved prefix 'aws:'."),
    ],
)
def test_tags_beyond_the_limits_are_refused_naming_the_tag(tags: dict[str, str], message: str) -> None:
    with pytest.raises(ClientException) as caught:
        check_tags(tags)
    assert caught.value.message == message


def test_the_member_named_is_the_one_checked() -> None:
    with pytest.raises(ClientException, match="in computeResources.tags"):
        check_tags({"aws:x": "y"}, member="computeResources.tags")

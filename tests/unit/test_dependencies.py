"""domain/dependencies.depends_on_entries and domain/arrays.array_size_of: SubmitJob's rules."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.arrays import array_size_of
from batchd.domain.dependencies import depends_on_entries
from batchd.errors import ClientException


def test_entries_are_kept_once_with_their_type() -> None:
    entries: list[dict[str, Any]] = [{"jobId": "a"}, {"jobId": "a"}, {"jobId": "b", "type": "N_TO_N"}]
    assert depends_on_entries(entries, 3, limit=100) == [{"jobId": "a"}, {"jobId": "b", "type": "N_TO_N"}]
    assert depends_on_entries([{"type": "SEQUENTIAL"}], 3, limit=100) == [{"type": "SEQUENTIAL"}]


@pytest.mark.parametrize(
    ("entries", "array_size", "message"),
    [
        ([{"jobId": "a"}, {"jobId": "b"}], None, "dependsOn may name at most 1 jobs, got 2."),
        ([{"jobId": "a", "type": "ALL"}], 2, "type must be N_TO_N or SEQUENTIAL, got 'ALL'."),
        ([{"jobId": "a", "type": "N_TO_N"}], None, "applies to array jobs"),
        ([{"jobId": "a", "type": "SEQUENTIAL"}], 2, "A SEQUENTIAL dependency names no jobId"),
        ([{}], None, "Every dependsOn entry other than SEQUENTIAL needs a jobId."),
    ],
)
def test_entries_aws_refuses(entries: list[dict[str, Any]], array_size: int | None, message: str) -> None:
    with pytest.raises(ClientException, match=message):
        depends_on_entries(entries, array_size, limit=1)


def test_array_sizes() -> None:
    assert array_size_of(None) is None
    assert array_size_of({}) is None
    assert array_size_of({"size": 10_000}) == 10_000
    for size in (1, 10_001):
        with pytest.raises(ClientException, match="between 2 and 10,000"):
            array_size_of({"size": size})

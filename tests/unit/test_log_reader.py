"""Reading a log file by offset: forward and backward pages, time seeks, unfinished lines; and the
filter patterns FilterLogEvents matches with."""

from __future__ import annotations

import bisect
import json
import random
from pathlib import Path

import pytest

from batchd.domain.filter_patterns import parse_filter_pattern
from batchd.errors import InvalidParameter
from batchd.logs.files import LogWriter
from batchd.logs.reader import CHUNK, LogFile


def write_log(path: Path, stamps: list[int], width: int = 10) -> list[str]:
    writer = LogWriter(path)
    messages = [f"m{i:0{width}d}" for i in range(len(stamps))]
    for message, stamp in zip(messages, stamps, strict=True):
        writer.write("stdout", message, stamp)
    writer.close()
    return messages


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, list[int], list[str]]:
    """A file of many chunks, with runs of equal timestamps as a busy job writes them."""
    rng = random.Random(7)
    stamps: list[int] = []
    now = 1_000
    for _ in range(30_000):
        now += rng.choice((0, 0, 1, 3))
        stamps.append(now)
    path = tmp_path / "big.log"
    return path, stamps, write_log(path, stamps)


def test_forward_pages_read_every_event_once(big: tuple[Path, list[int], list[str]]) -> None:
    path, _, messages = big
    seen: list[str] = []
    offset = 0
    with LogFile(path) as file:
        assert file.size > 20 * CHUNK
        while True:
            page = list(file.forward(offset, budget=CHUNK))
            if not page:
                break
            seen.extend(e.message for e in page)
            offset = page[-1].end
    assert seen == messages


def test_backward_pages_read_every_event_once(big: tuple[Path, list[int], list[str]]) -> None:
    path, _, messages = big
    seen: list[list[str]] = []
    with LogFile(path) as file:
        end = file.size
        while end > 0:
            page = file.backward(end, budget=5000)
            assert page, f"nothing before {end}"
            seen.append([e.message for e in page])
            end = page[0].offset
    assert [m for page in reversed(seen) for m in page] == messages


def test_seek_time_finds_the_first_event_at_or_after(big: tuple[Path, list[int], list[str]]) -> None:
    path, stamps, messages = big
    with LogFile(path) as file:
        for target in [0, stamps[0], stamps[1] + 1, stamps[len(stamps) // 3], stamps[-1], stamps[-1] + 1]:
            index = bisect.bisect_left(stamps, target)
            offset = file.seek_time(target)
            found = next(file.forward(offset, budget=1), None)
            if index == len(stamps):
                assert found is None and offset == file.size
            else:
                assert found is not None and found.message == messages[index], target


def test_a_long_line_and_an_unfinished_line(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    long = "y" * (3 * CHUNK)
    write_log(path, [1, 2], width=1)
    writer = LogWriter(path)
    writer.write("stdout", long, 3)
    writer.close()
    with path.open("ab") as raw:
        raw.write(json.dumps({"timestamp": 4, "message": "half"}).encode()[:-3])
    with LogFile(path) as file:
        events = list(file.forward(0, budget=file.size))
        assert [e.message for e in events] == ["m0", "m1", long]
        assert [e.message for e in file.backward(file.size)][-1:] == [long]  # never the unfinished one
        assert file.first_and_last() == (1, 3)
        assert file.line_start(1) == events[1].offset
        assert file.line_start(events[2].offset) == events[2].offset


def test_a_missing_file_reads_as_an_empty_stream(tmp_path: Path) -> None:
    with LogFile(tmp_path / "none.log") as file:
        assert file.size == 0
        assert list(file.forward(0)) == [] and file.backward(0) == []
        assert file.seek_time(5) == 0 and file.first_and_last() is None


@pytest.mark.parametrize(
    ("pattern", "matching"),
    [
        ("", ["ERROR disk full", "WARN slow", "INFO ok", "error lower"]),
        ("ERROR", ["ERROR disk full"]),
        ("ERROR full", ["ERROR disk full"]),
        ('"disk full"', ["ERROR disk full"]),
        ("?ERROR ?WARN", ["ERROR disk full", "WARN slow"]),
        ("-ERROR -WARN", ["INFO ok", "error lower"]),
        ("%^(ERROR|WARN) %", ["ERROR disk full", "WARN slow"]),
        (" INFO ", ["INFO ok"]),
    ],
)
def test_term_patterns(pattern: str, matching: list[str]) -> None:
    messages = ["ERROR disk full", "WARN slow", "INFO ok", "error lower"]
    parsed = parse_filter_pattern(pattern)
    assert [m for m in messages if parsed.matches(m)] == matching


@pytest.mark.parametrize("pattern", ['{ $.level = "x" }', "[a, b]", '""', "%(unclosed%"])
def test_patterns_batchd_does_not_match_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameter):
        parse_filter_pattern(pattern)

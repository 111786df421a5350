"""The local agent cuts a process's output into log events: a line each, over-long lines in pieces."""

from __future__ import annotations

import random
from pathlib import Path

from batchd.executors.agent import LINE_LIMIT, OutputLines
from batchd.logs.files import LogWriter
from batchd.logs.reader import read_all


def _events(tmp_path: Path, raw: bytes, chunk_sizes: list[int]) -> list[str]:
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.log"
    writer = LogWriter(path)
    output = OutputLines(None, "stdout", writer)
    offset = 0
    for size in chunk_sizes:
        output.feed(raw[offset : offset + size])
        offset += size
    output.feed(raw[offset:])
    output.finish()
    writer.close()
    return [event.message for event in read_all(path)]


def test_lines_come_out_one_event_each_however_the_pipe_cuts_them(tmp_path: Path) -> None:
    raw = "one\ntwo ✓\n\nthree".encode()
    for cut in range(len(raw)):
        assert _events(tmp_path, raw, [cut]) == ["one", "two ✓", "", "three"]


def test_nothing_is_lost_or_garbled_in_long_lines_and_odd_chunks(tmp_path: Path) -> None:
    rng = random.Random(7)
    for _ in range(40):
        parts = [rng.choice(["x" * rng.randint(0, 3 * LINE_LIMIT), "\n", "✓" * rng.randint(0, 40), "ab\n"])
                 for _ in range(rng.randint(1, 10))]  # fmt: skip
        text = "".join(parts)
        raw = text.encode()
        chunks = [rng.randint(1, 2 * LINE_LIMIT) for _ in range(len(raw) // LINE_LIMIT + 3)]
        events = _events(tmp_path, raw, chunks)
        assert "".join(events) == text.replace("\n", "")
        assert all(len(event.encode()) <= LINE_LIMIT for event in events)
        # Every short line is an event of its own.
        short = [line for line in text.split("\n")[:-1] if len(line.encode()) < LINE_LIMIT]
        assert all(line in events for line in short)


def test_many_short_lines_in_one_read(tmp_path: Path) -> None:
    raw = b"".join(b"line %d\n" % i for i in range(20_000))
    assert _events(tmp_path, raw, [len(raw)]) == [f"line {i}" for i in range(20_000)]

"""CPU time and memory of a server's process tree, read straight from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # utime+stime of every live process in the tree, plus the children they have reaped
    peak_rss_kib: int  # sum of VmHWM over the live tree: each process's own high-water mark
    rss_kib: int  # sum of VmRSS over the live tree right now
    processes: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses, so split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """The root and all its live descendants (servers may fork workers or job processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def usage(root: int) -> Usage:
    """Snapshot of the tree; take two and subtract cpu_s to cost a phase."""
    pids = tree_pids(root)
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # fields[11..14] are utime, stime, cutime, cstime (stat fields 14..17, counted from 1).
        ticks += sum(int(f) for f in fields[11:15])
    return Usage(
        cpu_s=ticks / _CLK_TCK,
        peak_rss_kib=sum(_status_kib(p, "VmHWM") for p in pids),
        rss_kib=sum(_status_kib(p, "VmRSS") for p in pids),
        processes=len(pids),
    )


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"

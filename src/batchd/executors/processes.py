"""Facts about local processes that both the server and the local agent need."""

from __future__ import annotations

import contextlib
import os
import signal


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: tells a pid from a later process reusing it."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def kill_group(pgid: int, leader_start: str | None) -> None:
    """SIGKILLs what is left of an attempt's process group, the leader gone or not.

    Linux does not reuse a pid while it still names a process group, so a live process with this pid
    but another start time means the group is empty and the number now belongs to someone else.
    """
    current = start_time(pgid)
    if current is not None and current != leader_start:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)

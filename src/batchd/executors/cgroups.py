"""Memory hard limits and CPU weight for local processes, through Linux cgroups (v2 or v1).

Where cgroups are not writable (not root, a read-only /sys/fs/cgroup), limits are simply not applied;
`available()` says so once at start.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "batchd"


def _is_v2() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def available() -> str | None:
    """None when limits can be applied, else why not."""
    if os.geteuid() != 0:
        return "the server does not run as root"
    base = ROOT if _is_v2() else ROOT / "memory"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable"
    return None


class Cgroup:
    """One attempt's group: created before the process starts, which joins it before exec."""

    def __init__(self, paths: list[Path], events: Path) -> None:
        self.paths = paths
        self._events = events

    @classmethod
    def create(cls, name: str, memory_mib: int, vcpus: float) -> Cgroup:
        if _is_v2():
            path = ROOT / GROUP / name
            _enable_v2_controllers()
            path.mkdir(parents=True, exist_ok=True)
            _write(path / "memory.max", str(memory_mib * 1024 * 1024))
            _write(path / "memory.swap.max", "0")
            # cpu.weight 1..10000 (default 100) plays the role of cpu shares (vcpus × 1024 of 1024).
            _write(path / "cpu.weight", str(max(1, min(10000, int(vcpus * 100)))))
            return cls([path], path / "memory.events")
        memory = ROOT / "memory" / GROUP / name
        memory.mkdir(parents=True, exist_ok=True)
        _write(memory / "memory.limit_in_bytes", str(memory_mib * 1024 * 1024))
        _write(memory / "memory.memsw.limit_in_bytes", str(memory_mib * 1024 * 1024))
        paths = [memory]
        cpu = ROOT / "cpu" / GROUP / name
        if (ROOT / "cpu").exists():
            cpu.mkdir(parents=True, exist_ok=True)
            _write(cpu / "cpu.shares", str(max(2, int(vcpus * 1024))))
            paths.append(cpu)
        return cls(paths, memory / "memory.oom_control")

    @classmethod
    def existing(cls, name: str) -> Cgroup | None:
        """The group an earlier server made for `name`, if it is still there."""
        if _is_v2():
            paths, events = [ROOT / GROUP / name], ROOT / GROUP / name / "memory.events"
        else:
            paths = [ROOT / "memory" / GROUP / name, ROOT / "cpu" / GROUP / name]
            events = paths[0] / "memory.oom_control"
        found = [p for p in paths if p.is_dir()]
        return cls(found, events) if found else None

    def pids(self) -> set[int]:
        """Processes still in the group."""
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in (path / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILLs every process left in the group: all of them belong to the attempt."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def join_paths(self) -> list[str]:
        """Files the child writes its pid to, between fork and exec."""
        return [str(p / "cgroup.procs") for p in self.paths]

    def oom_killed(self) -> bool:
        try:
            for line in self._events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except OSError:
            pass
        return False

    def remove(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.rmdir()


def _write(path: Path, value: str) -> None:
    # Some knobs (swap accounting) are missing on some kernels; the others still apply.
    with contextlib.suppress(OSError):
        path.write_text(value)


def _enable_v2_controllers() -> None:
    parent = ROOT / GROUP
    parent.mkdir(exist_ok=True)
    for path in (ROOT / "cgroup.subtree_control", parent / "cgroup.subtree_control"):
        _write(path, "+memory +cpu")


def own_procs_files() -> list[str]:
    """The `cgroup.procs` files of this process's own groups, in the hierarchies `Cgroup` uses."""
    files: list[str] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return files
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if _is_v2():
            if controllers == "":
                files.append(str(ROOT / path.lstrip("/") / "cgroup.procs"))
        else:
            for name in ("memory", "cpu"):
                if name in controllers.split(",") and (ROOT / name).exists():
                    files.append(str(ROOT / name / path.lstrip("/") / "cgroup.procs"))
    return files

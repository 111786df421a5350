"""The local executor: each attempt is a process of this machine, no container engine needed.

The command runs as argv without a shell, with the job's environment, ulimits, user (when batchd runs as
root), and a memory hard limit and CPU weight through cgroups where the OS allows. The image is only
recorded. Processes die with the server (PR_SET_PDEATHSIG), so after a crash nothing runs unobserved.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import grp
import logging
import os
import pwd
import resource
import signal
import subprocess
from dataclasses import dataclass

from batchd.executors import cgroups
from batchd.executors.base import OOM_REASON, AttemptEnd, Handle, LaunchFailed, LaunchSpec
from batchd.executors.logs import LogWriter

log = logging.getLogger("batchd.executor.local")

# What a container image would usually set; a job's own environment wins.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1

# ulimit names as Docker and AWS spell them → resource limits.
ULIMITS = {
    name: getattr(resource, f"RLIMIT_{name.upper()}")
    for name in ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                 "rss", "rtprio", "sigpending", "stack")
    if hasattr(resource, f"RLIMIT_{name.upper()}")
}  # fmt: skip


@dataclass
class _Attempt:
    process: asyncio.subprocess.Process
    pumps: list[asyncio.Task[None]]
    writer: LogWriter
    cgroup: cgroups.Cgroup | None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: tells a pid from a later process reusing it."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _resolve_user(user: str) -> tuple[int, int]:
    name, _, group = user.partition(":")
    if name.isdigit():
        uid = int(name)
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid
    else:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise LaunchFailed(
                f"CannotStartContainerError: user {name} does not exist on this host"
            ) from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise LaunchFailed(
                    f"CannotStartContainerError: group {group} does not exist on this host"
                ) from None
    return uid, gid


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, int], _Attempt] = {}
        self._cgroups_problem = cgroups.available()
        self._is_root = os.geteuid() == 0
        if self._cgroups_problem:
            log.info("local executor: no memory or CPU limits (%s)", self._cgroups_problem)

    def problem(self) -> str | None:
        return None

    async def start(self, spec: LaunchSpec) -> Handle:
        if not spec.command:
            raise LaunchFailed(
                "CannotStartContainerError: the job has no command; the local executor runs the command "
                "and cannot use an image's default"
            )
        limits = []
        for ulimit in spec.ulimits:
            which = ULIMITS.get(str(ulimit.get("name")))
            if which is None:
                raise LaunchFailed(f"CannotStartContainerError: unknown ulimit {ulimit.get('name')}")
            limits.append((which, int(ulimit["softLimit"]), int(ulimit["hardLimit"])))
        ids = _resolve_user(spec.user) if spec.user and self._is_root else None
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            os.chown(spec.work_dir, *ids)
        group = None
        if self._cgroups_problem is None:
            try:
                group = cgroups.Cgroup.create(_cgroup_name(spec), spec.memory_mib, spec.vcpus)
            except OSError as exc:
                log.warning("no cgroup for %s: %s", spec.job_id, exc)
        join = group.join_paths() if group else []
        work_dir = str(spec.work_dir.resolve())

        def in_child() -> None:
            # Runs between fork and exec: keep it to system calls.
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            pid = str(os.getpid())
            for path in join:
                with open(path, "w") as file:
                    file.write(pid)
            for which, soft, hard in limits:
                resource.setrlimit(which, (soft, hard))
            # Here rather than through `cwd=`: uvloop (what uvicorn runs) changes directory after this
            # function, so as the job's user, who may not be allowed into the data directory's parents.
            os.chdir(work_dir)
            if ids is not None:
                os.setgroups([])
                os.setgid(ids[1])
                os.setuid(ids[0])

        writer = LogWriter(spec.log_path)
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.command,
                env={"PATH": DEFAULT_PATH, "HOME": str(spec.work_dir), **spec.environment},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=in_child,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            writer.close()
            if group:
                group.remove()
            raise LaunchFailed(f"CannotStartContainerError: {exc}") from None
        assert process.stdout is not None and process.stderr is not None
        pumps = [
            asyncio.create_task(_pump(process.stdout, "stdout", writer)),
            asyncio.create_task(_pump(process.stderr, "stderr", writer)),
        ]
        self._attempts[(spec.job_id, spec.attempt)] = _Attempt(process, pumps, writer, group)
        return {"pid": process.pid, "start": _start_time(process.pid)}

    async def wait(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd:
        attempt = self._attempts.get((spec.job_id, spec.attempt))
        if attempt is None:
            return AttemptEnd(None, "CannotInspectContainerError: the process is no longer known to batchd")
        try:
            code = await attempt.process.wait()
            # As when a container's main process ends: nothing the attempt started outlives it, and
            # no leftover child keeps the output pipes (and so the job) open.
            _kill_group(int(handle["pid"]), handle.get("start"))
            if attempt.cgroup:
                attempt.cgroup.kill()
            _, pending = await asyncio.wait(attempt.pumps, timeout=DRAIN_SECONDS)
            for pump in pending:
                pump.cancel()
        finally:
            attempt.writer.close()
            self._attempts.pop((spec.job_id, spec.attempt), None)
        oom = attempt.cgroup.oom_killed() if attempt.cgroup else False
        if attempt.cgroup:
            await _remove(attempt.cgroup)
        # A signal death is reported as a shell would: 128 + the signal number.
        exit_code = 128 - code if code < 0 else code
        return AttemptEnd(exit_code, OOM_REASON if oom else None)

    async def stop(self, handle: Handle, grace_seconds: float) -> None:
        pid = int(handle["pid"])
        if _start_time(pid) != handle.get("start"):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while asyncio.get_running_loop().time() < deadline:
            if _start_time(pid) != handle.get("start") or _is_zombie(pid):
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    async def recover(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd | None:
        # The main process was the old server's child and died with it (PR_SET_PDEATHSIG); what it
        # started may still run: its process group and its cgroup are ended here.
        pid = handle.get("pid")
        if pid is not None:
            _kill_group(int(pid), handle.get("start"))
        group = cgroups.Cgroup.existing(_cgroup_name(spec)) if self._cgroups_problem is None else None
        if group is not None:
            group.kill()
            await _remove(group)
        return AttemptEnd(None, "Executor restarted: the local process ended with the previous batchd server")

    async def reap(self, known: list[Handle]) -> None:
        # Local processes die with the server: nothing can be left over.
        return None

    async def close(self) -> None:
        for attempt in list(self._attempts.values()):
            if attempt.process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(attempt.process.pid, signal.SIGKILL)


# How long output still buffered in the pipes may take to reach the log once the attempt ended.
DRAIN_SECONDS = 5.0


def _cgroup_name(spec: LaunchSpec) -> str:
    return f"{spec.job_id}-{spec.attempt}"


def _kill_group(pgid: int, leader_start: str | None) -> None:
    """SIGKILLs what is left of an attempt's process group, the leader gone or not.

    Linux does not reuse a pid while it still names a process group, so a live process with this pid
    but another start time means the group is empty and the number now belongs to someone else.
    """
    current = _start_time(pgid)
    if current is not None and current != leader_start:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _remove(group: cgroups.Cgroup) -> None:
    """Removes a cgroup once the processes just killed in it are gone."""
    deadline = asyncio.get_running_loop().time() + 2.0
    while group.pids() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    group.remove()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def _pump(stream: asyncio.StreamReader, name: str, writer: LogWriter) -> None:
    """One log event per output line; a line longer than the reader's limit becomes several events.

    `readline()` would drop the buffered part of an over-long line; `readuntil()` leaves it to be read.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    split = False
    while True:
        try:
            chunk = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            # End of output: what is left has no newline.
            if end.partial:
                writer.write(name, decoder.decode(end.partial, final=True))
            return
        except asyncio.LimitOverrunError as over:
            chunk = await stream.read(over.consumed or 1)
            writer.write(name, decoder.decode(chunk))
            split = True
            continue
        if split and chunk == b"\n":
            # The end of a line already written in pieces.
            split = False
            continue
        split = False
        writer.write(name, decoder.decode(chunk))

"""The local executor: each attempt is a process of this machine, no container engine needed.

The command runs as argv without a shell, with the job's environment, ulimits, user (when batchd runs as
root), and a memory hard limit and CPU weight through cgroups where the OS allows. The image is only
recorded. The processes are started, watched and logged by the local agent (`agent.py`), a small process
of the server's own; they end with the server, so after a crash nothing runs unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import pwd
import resource
import signal
import sys

from batchd.executors import cgroups
from batchd.executors.agent import terminate_with_parent
from batchd.executors.base import OOM_REASON, AttemptEnd, Handle, LaunchFailed, LaunchSpec
from batchd.executors.processes import is_zombie, kill_group, start_time

log = logging.getLogger("batchd.executor.local")

# What a container image would usually set; a job's own environment wins.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The largest uid or gid (2**32 - 1 is reserved as "no id").
MAX_ID = 2**32 - 2
# ulimit names as Docker and AWS spell them → resource limits.
ULIMITS = {
    name: getattr(resource, f"RLIMIT_{name.upper()}")
    for name in ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                 "rss", "rtprio", "sigpending", "stack")
    if hasattr(resource, f"RLIMIT_{name.upper()}")
}  # fmt: skip

AGENT_GONE = "the local agent that ran the process ended unexpectedly"


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self._agent: _AgentConnection | None = None
        self._agent_lock: asyncio.Lock | None = None
        self._cgroups_problem = cgroups.available()
        self._is_root = os.geteuid() == 0
        if self._cgroups_problem:
            log.info("local executor: no memory or CPU limits (%s)", self._cgroups_problem)

    def problem(self) -> str | None:
        return None

    async def open(self) -> None:
        try:
            await self._connection()
        except LaunchFailed as failure:  # tried again when a job needs it
            log.warning("%s", failure.reason)

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
        wanted_group = None
        if self._cgroups_problem is None:
            wanted_group = {"name": _cgroup_name(spec), "memory_mib": spec.memory_mib, "vcpus": spec.vcpus}
        agent = await self._connection()
        key = _key(spec)
        started: asyncio.Future[Handle] = asyncio.get_running_loop().create_future()
        agent.starting[key] = started
        # Made now: the end may be reported before the scheduler asks for it.
        agent.running[key] = asyncio.get_running_loop().create_future()
        agent.send({
            "start": key,
            "argv": spec.command,
            "env": {"PATH": DEFAULT_PATH, "HOME": str(spec.work_dir), **spec.environment},
            "cwd": str(spec.work_dir.absolute()),
            "log": str(spec.log_path),
            "rlimits": limits,
            "user": ids,
            "cgroup": wanted_group,
        })  # fmt: skip
        return await started

    async def _connection(self) -> _AgentConnection:
        if self._agent is not None and self._agent.alive:
            return self._agent
        if self._agent_lock is None:
            self._agent_lock = asyncio.Lock()
        async with self._agent_lock:
            if self._agent is None or not self._agent.alive:
                try:
                    self._agent = await _AgentConnection.open()
                except OSError as exc:
                    why = exc.strerror or type(exc).__name__
                    raise LaunchFailed(
                        f"CannotStartContainerError: the local agent cannot start: {why}"
                    ) from None
            return self._agent

    async def wait(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd:
        agent, key = self._agent, _key(spec)
        future = agent.running.get(key) if agent else None
        if agent is None or future is None:
            return AttemptEnd(None, "CannotInspectContainerError: the process is no longer known to batchd")
        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                agent.running.pop(key, None)

    async def stop(self, handle: Handle, grace_seconds: float) -> None:
        pid = int(handle["pid"])
        if start_time(pid) != handle.get("start"):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while asyncio.get_running_loop().time() < deadline:
            if start_time(pid) != handle.get("start") or is_zombie(pid):
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    async def recover(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd | None:
        # The old server's agent killed the process group when that server ended, unless both were
        # killed at once: whatever is left of the group and its cgroup is ended here.
        pid = handle.get("pid")
        if pid is not None:
            kill_group(int(pid), handle.get("start"))
        group = cgroups.Cgroup.existing(_cgroup_name(spec)) if self._cgroups_problem is None else None
        if group is not None:
            group.kill()
            deadline = asyncio.get_running_loop().time() + 2.0
            while group.pids() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            group.remove()
        return AttemptEnd(None, "Executor restarted: the local process ended with the previous batchd server")

    async def find(self, spec: LaunchSpec) -> Handle | None:
        # Local attempts end with the server (their agent dies with it): none is left to find.
        return None

    async def reap(self, known: list[Handle]) -> None:
        # Local processes die with the server: nothing can be left over.
        return None

    async def close(self) -> None:
        if self._agent is not None:
            await self._agent.close()
            self._agent = None


def _numeric_id(text: str, what: str) -> int | None:
    """A uid or gid given as ASCII digits (str.isdigit also takes '²' and '٣'), within Linux's 32 bits."""
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) > 10 or int(text) > MAX_ID:
        raise LaunchFailed(f"CannotStartContainerError: {what} {text[:20]} is out of range")
    return int(text)


def _resolve_user(user: str) -> tuple[int, int]:
    name, _, group = user.partition(":")
    uid = _numeric_id(name, "user id")
    if uid is not None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid
    else:
        try:
            entry = pwd.getpwnam(name)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            raise LaunchFailed(
                f"CannotStartContainerError: user {name[:64]} does not exist on this host"
            ) from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        numeric = _numeric_id(group, "group id")
        if numeric is not None:
            gid = numeric
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except (KeyError, ValueError):
                raise LaunchFailed(
                    f"CannotStartContainerError: group {group[:64]} does not exist on this host"
                ) from None
    return uid, gid


class _AgentConnection:
    """The running agent process and the attempts waiting on its events."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.starting: dict[str, asyncio.Future[Handle]] = {}
        self.running: dict[str, asyncio.Future[AttemptEnd]] = {}
        self.handles: dict[str, Handle] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls) -> _AgentConnection:
        env = dict(os.environ, BATCHD_AGENT_LOG_LEVEL=logging.getLevelName(log.getEffectiveLevel()))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batchd.executors.agent",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=terminate_with_parent,
            start_new_session=True,
        )  # fmt: skip
        return cls(process)

    @property
    def alive(self) -> bool:
        return not self.reader.done()

    def send(self, request: dict[str, object]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            async for line in self.process.stdout:
                self._dispatch(json.loads(line))
        except Exception:
            log.exception("lost the local agent's events")
        finally:
            self._gone()

    def _dispatch(self, event: dict[str, object]) -> None:
        if "started" in event:
            key = str(event["started"])
            handle = {"pid": event["pid"], "start": event["start"]}
            self.handles[key] = handle
            _resolve(self.starting.pop(key, None), handle)
        elif "failed" in event:
            key = str(event["failed"])
            self.running.pop(key, None)
            future = self.starting.pop(key, None)
            if future is not None and not future.done():
                future.set_exception(LaunchFailed(str(event["reason"])))
        elif "ended" in event:
            key = str(event["ended"])
            self.handles.pop(key, None)
            code = event["code"]
            end = AttemptEnd(
                code if isinstance(code, int) else None, OOM_REASON if event.get("oom") else None
            )
            # Left for `wait`, which may not have asked yet.
            _resolve(self.running.get(key), end)

    def _gone(self) -> None:
        """The agent ended (a crash, or the server closing): its processes died with it."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        for start in self.starting.values():
            if not start.done():
                start.set_exception(LaunchFailed(f"CannotStartContainerError: {AGENT_GONE}"))
        for key, future in self.running.items():
            handle = self.handles.get(key)
            if handle is not None:
                kill_group(int(handle["pid"]), handle.get("start"))
            _resolve(future, AttemptEnd(None, f"Executor error: {AGENT_GONE}"))
        self.starting.clear()
        self.running.clear()

    async def close(self) -> None:
        for handle in self.handles.values():
            kill_group(int(handle["pid"]), handle.get("start"))
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


def _resolve(future: asyncio.Future[Handle] | asyncio.Future[AttemptEnd] | None, value: object) -> None:
    if future is not None and not future.done():
        future.set_result(value)  # type: ignore[arg-type]


def _cgroup_name(spec: LaunchSpec) -> str:
    return f"{spec.job_id}-{spec.attempt}"


def _key(spec: LaunchSpec) -> str:
    return f"{spec.job_id}:{spec.attempt}"

"""The local agent: a small process that starts, watches and logs the local executor's job processes.

As the container agent on an AWS Batch instance does, it does the work on the machine while the server
decides. It is a process of its own because forking the server (tens of MiB, several threads) for every
job cost milliseconds of the server's event loop; this process is small, forks in a fraction of that,
and reads the jobs' output, so neither process starts nor log lines queue behind API requests.

The server talks to it with one JSON object per line, requests on stdin and events on stdout:

    {"start": KEY, "argv": [...], "env": {...}, "cwd": DIR, "log": FILE, "rlimits": [[RES, SOFT, HARD]],
     "user": [UID, GID] | null, "cgroup": {"name": ..., "memory_mib": ..., "vcpus": ...} | null}
        → {"started": KEY, "pid": PID, "start": TICKS}  or  {"failed": KEY, "reason": TEXT}
        → later {"ended": KEY, "code": EXIT_CODE, "oom": BOOL}

Jobs do not outlive the server. End of stdin, or SIGTERM (the agent's parent-death signal, set by the
server), means the server is gone: the agent kills what still runs and exits. If the agent alone dies,
the server kills the process groups it was told about; if both die at once, the next start does
(`LocalExecutor.recover`).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import heapq
import itertools
import json
import logging
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from batchd.executors import cgroups
from batchd.executors.processes import kill_group, start_time
from batchd.logs.files import LogWriter, flush_deferred_logs, has_deferred_logs

log = logging.getLogger("batchd.agent")

# A line longer than this becomes several log events rather than unbounded memory.
LINE_LIMIT = 64 * 1024
# How long output still buffered in the pipes may take to reach the log once the process ended.
DRAIN_SECONDS = 5.0
# How long killed processes may take to leave their cgroup before it is removed regardless.
CGROUP_EMPTY_SECONDS = 2.0
# Without pidfds (Linux < 5.3), how often ended processes are looked for.
POLL_SECONDS = 0.05
# How often output kept while the disk was full is tried again.
DEFERRED_LOG_RETRY_SECONDS = 1.0

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    """In the agent between fork and exec: SIGTERM it when the server that started it ends."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class OutputLines:
    """One output pipe of a process, cut into log events of a line each."""

    def __init__(self, pipe: IO[bytes] | None, name: str, writer: LogWriter) -> None:
        self.pipe = pipe
        self.name = name
        self._writer = writer
        self._buffer = b""
        self._split = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        # Walks the data with an offset: slicing the rest off after each line would copy a chunk full
        # of short lines once per line.
        data = self._buffer + data if self._buffer else data
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._line(data[start : end + 1])
            start = end + 1
        while len(data) - start >= LINE_LIMIT:
            self._write(data[start : start + LINE_LIMIT])
            self._split = True
            start += LINE_LIMIT
        self._buffer = data[start:]

    def _line(self, line: bytes) -> None:
        for offset in range(0, len(line), LINE_LIMIT):
            piece = line[offset : offset + LINE_LIMIT]
            if self._split and piece == b"\n":
                break  # the end of a line already written in pieces
            self._write(piece)
            self._split = True
        self._split = False

    def _write(self, piece: bytes) -> None:
        self._writer.write(self.name, self._decoder.decode(piece))

    def finish(self) -> None:
        """End of output: what is left has no newline."""
        if self._buffer:
            self._writer.write(self.name, self._decoder.decode(self._buffer, final=True))
            self._buffer = b""


@dataclass(eq=False)
class _Process:
    key: str
    popen: subprocess.Popen[bytes]
    start: str | None
    writer: LogWriter
    group: cgroups.Cgroup | None
    work_dir: Path
    outputs: dict[int, OutputLines] = field(default_factory=dict)
    pidfd: int | None = None
    code: int | None = None
    finished: bool = False


class Agent:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._processes: dict[str, _Process] = {}
        self._unwatched: set[_Process] = set()  # ended processes looked for by polling (no pidfd)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._tiebreak = itertools.count()
        self._inbox = b""
        self._serving = True
        self._pid = os.getpid()
        # Where the agent's own cgroups are, to return to after starting a process inside a job's.
        self._home = cgroups.own_procs_files()

    def run(self) -> None:
        os.set_blocking(sys.stdin.fileno(), False)
        self._selector.register(sys.stdin.fileno(), selectors.EVENT_READ, self._read_requests)
        # SIGTERM ends the loop where it stands rather than raising inside a start or a kill: the signal
        # wakes the selector through this pipe, its handler clears `_serving`.
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGTERM, self._on_terminate)
        self._selector.register(wake_read, selectors.EVENT_READ, lambda: _drain(wake_read))
        try:
            self._serve()
        finally:
            self._kill_all()

    def _on_terminate(self, signum: int, frame: object) -> None:
        self._serving = False

    def _serve(self) -> None:
        while self._serving:
            for key, _ in self._selector.select(self._timeout()):
                try:
                    key.data()
                except Exception:
                    # One attempt's trouble must not end the agent, and with it every other attempt.
                    log.exception("local agent: event handling failed")
            self._run_timers()
            for process in list(self._unwatched):
                self._check_exit(process)
            flush_deferred_logs()  # output kept while the disk was full

    # --- requests -----------------------------------------------------------------------------------------

    def _read_requests(self) -> None:
        try:
            data = os.read(sys.stdin.fileno(), 1 << 16)
        except BlockingIOError:
            return
        if not data:
            self._serving = False
            return
        self._inbox += data
        *lines, self._inbox = self._inbox.split(b"\n")
        for line in lines:
            if line.strip():
                self._start(json.loads(line))

    def _send(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(sys.stdout.fileno(), data) :]

    def _start(self, request: dict[str, Any]) -> None:
        key = request["start"]
        try:
            process = self._spawn(request)
        except Exception as exc:  # whatever it is, the server waits for an answer
            self._send({"failed": key, "reason": f"CannotStartContainerError: {launch_reason(exc, request)}"})
            return
        self._processes[key] = process
        self._send({"started": key, "pid": process.popen.pid, "start": process.start})

    def _spawn(self, request: dict[str, Any]) -> _Process:
        work_dir = Path(request["cwd"])
        # The server's umask (0o077) makes it 0700: the job's alone, handed to its user when it has one.
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ids = request.get("user")
        if ids is not None:
            os.chown(work_dir, ids[0], ids[1])
            os.chmod(work_dir, 0o700)
        writer = LogWriter(Path(request["log"]))
        group = None
        wanted = request.get("cgroup")
        if wanted:
            try:
                group = cgroups.Cgroup.create(wanted["name"], wanted["memory_mib"], wanted["vcpus"])
            except OSError as exc:
                log.warning("no cgroup for %s: %s", request["start"], exc)
        rlimits = [(int(which), int(soft), int(hard)) for which, soft, hard in request.get("rlimits", [])]
        options: dict[str, Any] = {}
        if rlimits:
            options["preexec_fn"] = _limits_then_user(rlimits, ids)
        elif ids is not None:
            options.update(user=ids[0], group=ids[1], extra_groups=[])
        try:
            # Without Python code between fork and exec, Popen uses vfork: a third of the cost of a
            # fork. The child is born in the attempt's cgroup because the agent steps into it to start
            # the child, and steps back out at once.
            with self._inside(group):
                popen = subprocess.Popen(
                    request["argv"],
                    env=request["env"],
                    cwd=work_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    # The server's private umask is for its data directory; jobs get the usual one.
                    umask=JOB_UMASK,
                    **options,
                )
        except BaseException:
            writer.close()
            if group:
                group.remove()
            with contextlib.suppress(OSError):
                work_dir.rmdir()
            raise
        process = _Process(request["start"], popen, start_time(popen.pid), writer, group, work_dir)
        assert popen.stdout is not None and popen.stderr is not None
        for pipe, name in ((popen.stdout, "stdout"), (popen.stderr, "stderr")):
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            process.outputs[fd] = OutputLines(pipe, name, writer)
            self._selector.register(fd, selectors.EVENT_READ, lambda fd=fd: self._read_output(process, fd))
        try:
            process.pidfd = os.pidfd_open(popen.pid)
            self._selector.register(process.pidfd, selectors.EVENT_READ, lambda: self._check_exit(process))
        except (AttributeError, OSError):
            self._unwatched.add(process)
        return process

    @contextlib.contextmanager
    def _inside(self, group: cgroups.Cgroup | None) -> Iterator[None]:
        if group is None:
            yield
            return
        me = str(self._pid)
        try:
            for path in group.join_paths():
                with open(path, "w") as file:
                    file.write(me)
            yield
        finally:
            for path in self._home:
                try:
                    with open(path, "w") as file:
                        file.write(me)
                except OSError as exc:
                    log.warning("local agent: cannot return to its cgroup %s: %s", path, exc)

    # --- a process's output and end -------------------------------------------------------------------------

    def _read_output(self, process: _Process, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            process.outputs[fd].feed(data)
            return
        self._close_output(process, fd)
        if process.code is not None and not process.outputs:
            self._finish(process)

    def _close_output(self, process: _Process, fd: int) -> None:
        output = process.outputs.pop(fd)
        output.finish()
        self._selector.unregister(fd)
        # Through the file object, which Popen would otherwise close again later, by then perhaps
        # another process's pipe under the same number.
        if output.pipe is not None:
            output.pipe.close()

    def _check_exit(self, process: _Process) -> None:
        code = process.popen.poll()
        if code is None:
            return
        self._unwatched.discard(process)
        if process.pidfd is not None:
            self._selector.unregister(process.pidfd)
            os.close(process.pidfd)
            process.pidfd = None
        # As when a container's main process ends: nothing the attempt started outlives it, and no
        # leftover child keeps the output pipes (and so the job) open.
        kill_group(process.popen.pid, process.start)
        if process.group:
            process.group.kill()
        # A signal death is reported as a shell would: 128 + the signal number.
        process.code = 128 - code if code < 0 else code
        if process.outputs:
            self._after(DRAIN_SECONDS, lambda: self._finish(process))
        else:
            self._finish(process)

    def _finish(self, process: _Process) -> None:
        if process.finished:
            return
        process.finished = True
        for fd in list(process.outputs):
            self._close_output(process, fd)
        process.writer.close()
        # Like a container's filesystem, the attempt's scratch directory goes with it; its job's
        # directory too once no attempt is left in it.
        try:
            process.work_dir.rmdir()  # one system call for the usual case: nothing was left in it
        except OSError:
            shutil.rmtree(process.work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            process.work_dir.parent.rmdir()
        oom = process.group.oom_killed() if process.group else False
        deadline = time.monotonic() + CGROUP_EMPTY_SECONDS

        def remove_group_then_report() -> None:
            group = process.group
            if group is not None and group.pids() and time.monotonic() < deadline:
                self._after(0.02, remove_group_then_report)
                return
            if group is not None:
                group.remove()
            self._processes.pop(process.key, None)
            self._send({"ended": process.key, "code": process.code, "oom": oom})

        remove_group_then_report()

    # --- timers and shutdown ----------------------------------------------------------------------------

    def _after(self, seconds: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._tiebreak), callback))

    def _timeout(self) -> float | None:
        timeout = POLL_SECONDS if self._unwatched else None
        if has_deferred_logs():
            timeout = (
                DEFERRED_LOG_RETRY_SECONDS if timeout is None else min(timeout, DEFERRED_LOG_RETRY_SECONDS)
            )
        if self._timers:
            due = max(0.0, self._timers[0][0] - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        return timeout

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()

    def _kill_all(self) -> None:
        for process in self._processes.values():
            if process.code is None:
                kill_group(process.popen.pid, process.start)
            if process.group:
                process.group.kill()
                with contextlib.suppress(OSError):
                    process.group.remove()


JOB_UMASK = 0o022


def launch_reason(exc: BaseException, request: dict[str, Any]) -> str:
    """Why a start failed, told to the job's owner without the server's own paths (the data directory's
    working and log directories): the command is named, the rest is called by what it is."""
    if isinstance(exc, OSError):
        argv = request.get("argv") or [""]
        what = exc.strerror or type(exc).__name__
        if exc.filename is not None and str(exc.filename) == str(argv[0]):
            return f"{argv[0]}: {what}"
        if exc.filename is not None and str(exc.filename).startswith(str(request.get("cwd"))):
            return f"the job's working directory cannot be used: {what}"
        if exc.filename is not None and str(exc.filename) == str(request.get("log")):
            return f"the job's log cannot be opened: {what}"
        if exc.filename is None:
            return what
        text = f"{what}: {exc.filename}"
    else:
        text = str(exc)
    cwd = Path(str(request.get("cwd")))
    # work/JOB/ATTEMPT: anything under the data directory is the server's business.
    root = str(cwd.parents[2]) if len(cwd.parents) > 2 else str(cwd)
    return text.replace(root, "<data dir>") if root not in ("", "/", ".") else text


def _limits_then_user(rlimits: list[tuple[int, int, int]], ids: list[int] | None) -> Callable[[], None]:
    """What runs between fork and exec when a job sets ulimits: raising a hard limit needs the agent's
    privileges, and Popen would change the user first, so the change of user is done here, after."""

    def in_child() -> None:
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])

    return in_child


def main() -> None:
    logging.basicConfig(level=os.environ.get("BATCHD_AGENT_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    # Ctrl-C in a terminal reaches the whole foreground group; the server decides when the agent ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Agent().run()


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass


if __name__ == "__main__":
    main()

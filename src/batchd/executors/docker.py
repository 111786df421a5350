"""The Docker executor: each attempt is a container of the engine at DOCKER_HOST (or the given base_url).

The Docker SDK blocks, so nothing here calls it on the event loop. Short calls (pull, create, inspect,
kill, remove) run on a thread pool of our own: asyncio's default one is small and shared, and stopping
hundreds of containers must not starve it. Each running container has one follower thread that streams
its stdout and stderr (one connection, demultiplexed) into the attempt's log file. A followed log stream
ends when the container stops, so the same thread also notices the exit: N running containers cost N
threads and N connections, and waiting costs nothing more.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import io
import json
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import docker
import requests
import urllib3
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import CancellableStream, Mount, Ulimit
from docker.utils import kwargs_from_env, parse_repository_tag

from batchd.executors.base import OOM_REASON, AttemptEnd, Handle, LaunchFailed, LaunchSpec
from batchd.executors.engine_connections import share_connections
from batchd.logs.files import LogWriter

log = logging.getLogger("batchd.executor.docker")
T = TypeVar("T")

LABEL_JOB, LABEL_ATTEMPT, LABEL_MANAGED = "batchd.job-id", "batchd.attempt", "batchd.managed"
POOL_SIZE = 512  # kept connections: a follower holds one per running container, short calls share the rest
CALL_THREADS = 32  # concurrent short calls; the engine serialises much of create/start anyway
# An overloaded engine (hundreds of containers starting) can take minutes to start one more; failing the
# attempt after the SDK's default 60 s would be worse than waiting.
CALL_TIMEOUT_S = 300
PROBLEM_TTL_S = 5.0
PING_TIMEOUT_S = 5  # twice (version, ping) at most: a busy engine can take seconds to answer
GIVE_UP_S = 600.0  # the engine unreachable this long while following a container: report the attempt lost
# How long after the engine logged a SIGKILLed container's "die" its "oom" event may still come (the engine
# can record the exit before the OOM notification, leaving State.OOMKilled false).
OOM_EVENT_GRACE_S = 2.0
EXIT_SIGKILL = 137
MIN_MEMORY_MIB = 6  # the engine refuses smaller limits
# An untrusted account's container: fewer capabilities than Docker's defaults, no privilege gained through
# setuid binaries, a bounded number of processes.
CONFINED_HOST_CONFIG: dict[str, Any] = {
    "cap_drop": ["NET_RAW", "MKNOD", "SETFCAP", "AUDIT_WRITE", "SYS_CHROOT"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 4096,
}
# What a connection to the engine can fail with, beyond the SDK's own errors.
TRANSIENT = (DockerException, requests.RequestException, urllib3.exceptions.HTTPError, OSError)
Seen: TypeAlias = collections.Counter[tuple[str, str]]  # (stream, message) → how many


def _detail(exc: Exception) -> str:
    return (exc.explanation if isinstance(exc, APIError) else None) or str(exc)


def _gone(handle: Handle) -> AttemptEnd:
    return AttemptEnd(None, f"CannotInspectContainerError: container {handle.get('name')} no longer exists")


def _millis(stamp: bytes) -> int:
    """Docker's RFC 3339 nanosecond timestamp → epoch milliseconds (fromisoformat keeps microseconds)."""
    moment = datetime.fromisoformat(stamp.decode())
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _last_written(path: Path) -> tuple[int | None, Seen]:
    """The newest timestamp in a log file and the lines written at it, to skip them when following again."""
    if not path.exists():
        return None, collections.Counter()
    with path.open("rb+") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - (1 << 20))
        file.seek(start)
        data = file.read()
        if data and not data.endswith(b"\n"):
            # A crash mid-write left half a line: appending after it would corrupt the next one.
            file.truncate(start + data.rfind(b"\n") + 1)
    events = []
    for line in data.splitlines()[1 if start else 0 :]:
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    if not events:
        return None, collections.Counter()
    last = max(int(e["timestamp"]) for e in events)
    return last, collections.Counter((e["stream"], e["message"]) for e in events if e["timestamp"] == last)


def _frames(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """The engine's multiplexed stream: 8-byte headers (stream id, length), each followed by one entry."""
    while True:
        header = read(8)
        if len(header) < 8:
            return
        stream_id, length = struct.unpack(">BxxxL", header)
        data = read(length)
        if len(data) < length:
            return
        yield stream_id, data


def _epoch(stamp: str) -> float | None:
    """Docker's RFC 3339 nanosecond timestamp (as in State.StartedAt) → epoch seconds."""
    with contextlib.suppress(ValueError, TypeError):
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
        seconds = moment.timestamp() + float(f"0.{fraction[:6] or 0}")
        return seconds if seconds > 0 else None  # "0001-01-01T00:00:00Z": never started or ended
    return None


def _action(event: dict[str, Any]) -> str | None:
    action = event.get("Action") or event.get("status")
    return str(action) if action is not None else None


def _container_events(
    api: docker.APIClient, container_id: str, since: int, until: int, actions: list[str]
) -> list[dict[str, Any]]:
    """The engine's events of the container between `since` and `until` (epoch seconds, its clock). An
    `until` the engine has not reached yet makes it answer only then, with what came meanwhile."""
    filters = {"container": container_id, "event": actions}
    stream = api.events(since=since, until=until, filters=filters, decode=True)
    try:
        return [event for event in stream if isinstance(event, dict)]
    finally:
        with contextlib.suppress(Exception):
            stream.close()


def _oom_event(api: docker.APIClient, container_id: str, state: dict[str, Any]) -> bool:
    """Whether the engine logged an "oom" event for the container since it started. Asked when it was
    SIGKILLed yet State.OOMKilled is false: the engine (seen with 20.10 on cgroup v1) records the exit
    before it handles a late OOM notification, which then only shows in its events, after the "die".

    The wait for a late event counts from the engine's "die", not from State.FinishedAt: FinishedAt is when
    the process ended, and a loaded engine logs the die seconds later (it copies the last output, deletes
    the task), so a grace counted from FinishedAt could be over before the OOM notification, queued behind
    the exit, was even handled."""
    started, finished = _epoch(state.get("StartedAt", "")), _epoch(state.get("FinishedAt", ""))
    since = int((started or finished or time.time()) - 1)
    # `until` is in whole seconds and leaves out what came after it: rounded up, never down, or an event
    # of the last fraction of a second would be missed.
    logged = _container_events(api, container_id, since, math.ceil(time.time()), ["oom", "die"])
    if any(_action(event) == "oom" for event in logged):
        return True
    ends = [int(e["timeNano"]) / 1e9 for e in logged if _action(e) == "die" and "timeNano" in e]
    end = max([*ends, *([finished] if finished is not None else [])], default=None)
    if end is None:
        return False
    # Measured by the engine's clock: a deadline it has passed answers at once.
    later = _container_events(api, container_id, since, math.ceil(end + OOM_EVENT_GRACE_S), ["oom"])
    return any(_action(event) == "oom" for event in later)


class _Follower(threading.Thread):
    """Copies a container's output into its log file until the container stops, then reports its State
    (None when the container is gone)."""

    def __init__(self, api: docker.APIClient, container_id: str, log_path: Path) -> None:
        super().__init__(name=f"batchd-docker-{container_id[:12]}", daemon=True)
        self.api, self.container_id, self.log_path = api, container_id, log_path
        self.done: concurrent.futures.Future[dict[str, Any] | None] = concurrent.futures.Future()
        # Running futures cannot be cancelled: a cancelled `wait` must not cancel it for the other waiters.
        self.done.set_running_or_notify_cancel()
        self._closed = threading.Event()
        self._stream: CancellableStream[tuple[int, bytes]] | None = None
        self._last_ms: int | None = None
        self._at_last: Seen = collections.Counter()
        # What came after the last newline of each stream (stream id → (timestamp, text)), kept across
        # follows: written once the container has stopped and no follow resends it.
        self._tail: dict[int, tuple[int, bytes]] = {}

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:  # unblocks the read in `_follow`
            with contextlib.suppress(Exception):
                stream.close()

    def run(self) -> None:
        try:
            self.done.set_result(self._run())
        except BaseException as exc:  # for the waiter to see
            self.done.set_exception(exc)

    def _run(self) -> dict[str, Any] | None:
        self._last_ms, self._at_last = _last_written(self.log_path)
        # A tail written by an earlier follower (before a crash) is not written again.
        self._written_before: Seen = collections.Counter(self._at_last)
        writer = LogWriter(self.log_path)
        failing_since: float | None = None
        state: dict[str, Any] | None = None
        try:
            while not self._closed.is_set():
                try:
                    if state is None:
                        self._follow(writer, follow=True)
                        if self._closed.is_set():
                            break
                        state = self.api.inspect_container(self.container_id)["State"]
                    if not state.get("Running"):
                        # Stopped: the engine has all its output by now, but a followed stream can end
                        # before it sent the last entries. One more read, not followed, gets them.
                        with contextlib.suppress(NotFound):
                            self._follow(writer, follow=False)
                        self._write_tail(writer)
                        return state
                except NotFound:
                    self._write_tail(writer)
                    return None
                except TRANSIENT as exc:  # the engine restarts or is overloaded: try again, not forever
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since > GIVE_UP_S:
                        raise
                    log.warning("following container %s: %s", self.container_id[:12], exc)
                    self._closed.wait(1.0)
                    continue
                failing_since = None
                state = None
                self._closed.wait(0.2)  # its stream ended though it runs (engine hiccup): follow again
            raise RuntimeError("Docker executor closed")
        finally:
            writer.close()

    def _write_tail(self, writer: LogWriter) -> None:
        """Writes the last output of each stream that had no newline, once."""
        tail, self._tail = self._tail, {}
        for stream_id, (millis, text) in sorted(tail.items(), key=lambda item: item[1][0]):
            self._write(writer, stream_id, millis, text, self._written_before)

    def _follow(self, writer: LogWriter, follow: bool = True) -> None:
        """Appends the container's lines newer than those already written, until its log stream ends
        (`follow`) or up to its current end. What comes after the last newline of a stream is kept in
        `_tail`: the engine sends it again, maybe longer, to a later follow (which then replaces it)."""
        params: dict[str, str | int] = {"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": 1}
        if self._last_ms is not None:  # `since` includes entries at that very time: `skip` drops repeats
            params["since"] = f"{self._last_ms // 1000}.{self._last_ms % 1000:03d}"
        skip: Seen = collections.Counter(self._at_last)
        url = f"{self.api.base_url}/v{self.api.api_version}/containers/{self.container_id}/logs"
        # The SDK's logs() drops the stream id of each entry, hence the request by hand. No read timeout
        # when following: a quiet container sends nothing for hours. Not followed, the whole answer is
        # read at once, so its connection goes back to the pool.
        response = self.api.get(
            url, params=params, stream=follow, timeout=None if follow else CALL_TIMEOUT_S
        )  # fmt: skip
        pending: dict[int, tuple[int, bytes]] = {}  # stream id → (timestamp, start) of a line split by Docker
        try:
            if response.status_code == 404:
                raise NotFound(response.text, response)
            response.raise_for_status()
            if follow:
                self._stream = CancellableStream(_frames(response.raw.read), response)
                if self._closed.is_set():
                    return
                entries: Iterator[tuple[int, bytes]] = self._stream
            else:
                entries = _frames(io.BytesIO(response.content).read)
            for stream_id, entry in entries:
                stamp, _, text = entry.partition(b" ")
                millis = _millis(stamp)
                if stream_id in pending:  # lines over 16 KiB come in several entries, the last ends in \n
                    millis, start = pending.pop(stream_id)
                    text = start + text
                else:
                    kept = self._tail.get(stream_id)
                    if kept is not None and millis >= kept[0]:  # the kept tail, sent again
                        del self._tail[stream_id]
                if not text.endswith(b"\n"):
                    pending[stream_id] = (millis, text)
                    continue
                self._write(writer, stream_id, millis, text, skip)
        finally:
            self._tail.update(pending)
            self._stream = None
            response.close()

    def _write(self, writer: LogWriter, stream_id: int, millis: int, text: bytes, skip: Seen) -> None:
        stream = "stderr" if stream_id == 2 else "stdout"
        message = text.decode("utf-8", "replace").rstrip("\n")
        key = (stream, message)
        if self._last_ms is not None and millis <= self._last_ms and skip[key] > 0:
            skip[key] -= 1
            return
        writer.write(stream, message, millis)
        if self._last_ms is None or millis > self._last_ms:
            self._last_ms, self._at_last = millis, collections.Counter()
        if millis == self._last_ms:
            self._at_last[key] += 1


class DockerExecutor:
    name = "docker"

    def __init__(self, base_url: str | None = None, owner: str = "true") -> None:
        # Nothing connects here: the server creates every executor, used or not.
        self._base_url = base_url
        # The value of the batchd.managed label: which server's containers these are, so servers
        # sharing one engine never take each other's containers for orphans.
        self._owner = owner
        self._api: docker.APIClient | None = None
        self._api_lock = threading.Lock()
        self._calls = concurrent.futures.ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="batchd-docker")
        self._followers: dict[str, _Follower] = {}  # by container id; touched on the event loop only
        self._starting: set[str] = set()  # names of containers being created, not orphans
        self._problem: tuple[float, str | None] | None = None
        self._removals: set[asyncio.Task[None]] = set()  # containers of ended attempts being removed

    def _connect(self, timeout: int) -> docker.APIClient:
        """A client; asks the engine its API version, so it may block (up to `timeout`) and raise."""
        # No base_url: docker.from_env()'s semantics (DOCKER_HOST, DOCKER_TLS_VERIFY…).
        where: dict[str, Any] = {"base_url": self._base_url} if self._base_url else {**kwargs_from_env()}
        return share_connections(docker.APIClient(timeout=timeout, max_pool_size=POOL_SIZE, **where))

    def _client(self) -> docker.APIClient:
        with self._api_lock:
            if self._api is None:
                self._api = self._connect(CALL_TIMEOUT_S)
            return self._api

    async def _call(self, fn: Callable[[docker.APIClient], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._calls, lambda: fn(self._client()))

    def problem(self) -> str | None:
        now = time.monotonic()
        if self._problem is None or now - self._problem[0] > PROBLEM_TTL_S:
            # Called on the event loop, hence a client of its own with a short timeout.
            reason = None
            try:
                pinger = self._connect(PING_TIMEOUT_S)
                try:
                    pinger.ping()
                finally:
                    pinger.close()
            except Exception as exc:  # any cause (no socket, refused, mute, bad DOCKER_HOST) is the reason
                reason = str(exc)
            where = self._base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            self._problem = (now, reason and f"Docker engine not reachable at {where}: {reason}")
        return self._problem[1]

    async def open(self) -> None:
        # The engine is reached on the first call: it may well start after batchd.
        return None

    async def start(self, spec: LaunchSpec) -> Handle:
        name = _container_name(spec)
        self._starting.add(name)
        try:
            try:
                container_id = await self._call(lambda api: _create(api, spec, name, self._owner))
            except ImageNotFound:
                # Pulled only when missing: asking first would cost every start one more round trip.
                await self._call(lambda api: _ensure_image(api, spec.image))
                container_id = await self._call(lambda api: _create(api, spec, name, self._owner))
            await self._follower(container_id, spec.log_path)
        except TRANSIENT as exc:  # the engine itself failed (unreachable, timed out)
            raise LaunchFailed(f"CannotStartContainerError: {_detail(exc)}") from exc
        finally:
            self._starting.discard(name)
        return {"container_id": container_id, "name": name}

    async def _follower(self, container_id: str, log_path: Path) -> _Follower:
        api = await self._call(lambda api: api)
        follower = self._followers.get(container_id)
        if follower is None:
            follower = self._followers[container_id] = _Follower(api, container_id, log_path)
            follower.start()
        return follower

    async def wait(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd:
        container_id = handle["container_id"]
        follower = await self._follower(container_id, spec.log_path)  # a new one after `recover`
        try:
            state = await asyncio.wrap_future(follower.done)
        except TRANSIENT as exc:
            self._followers.pop(container_id, None)
            return AttemptEnd(None, f"CannotInspectContainerError: {_detail(exc)}"[:255])
        self._followers.pop(container_id, None)
        if state is None:
            return _gone(handle)
        oom = await self._oom_killed(container_id, state)
        # Removed only now that its logs are copied and its end known (OOMKilled dies with the container),
        # and in the background: the job's end and its vCPUs do not wait for the engine's cleanup.
        removal = asyncio.create_task(self._remove(container_id))
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)
        return AttemptEnd(state.get("ExitCode"), OOM_REASON if oom else None)

    async def _oom_killed(self, container_id: str, state: dict[str, Any]) -> bool:
        if state.get("OOMKilled"):
            return True
        if state.get("ExitCode") != EXIT_SIGKILL:
            return False
        try:
            return await self._call(lambda api: _oom_event(api, container_id, state))
        except TRANSIENT as exc:
            log.warning("cannot read the events of container %s: %s", container_id[:12], _detail(exc))
            return False

    async def stop(self, handle: Handle, grace_seconds: float) -> None:
        container_id = handle["container_id"]
        # Docker's own stop would hold a pool thread for the whole grace period: we watch for the end instead.
        if (
            grace_seconds > 0
            and await self._kill(container_id, "SIGTERM")
            and await self._ends_within(container_id, grace_seconds)
        ):
            return
        await self._kill(container_id, "SIGKILL")

    async def _ends_within(self, container_id: str, seconds: float) -> bool:
        follower = self._followers.get(container_id)
        if follower is not None:
            try:
                await asyncio.wait_for(asyncio.wrap_future(follower.done), seconds)
                return True
            except Exception:  # still running (TimeoutError), or unobservable: force it
                return False
        deadline = time.monotonic() + seconds  # not followed yet (between `recover` and `wait`): poll
        while time.monotonic() < deadline:
            if not await self._running(container_id):
                return True
            await asyncio.sleep(0.25)
        return False

    async def recover(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd | None:
        if not await self._running(handle["container_id"]):
            # Exited while we were down (or gone): `wait` copies the logs not yet written and removes it.
            return await self.wait(spec, handle)
        return None

    async def find(self, spec: LaunchSpec) -> Handle | None:
        name = _container_name(spec)
        try:
            found = await self._call(lambda api: api.inspect_container(name))
        except NotFound:
            return None
        return {"container_id": str(found["Id"]), "name": name}

    async def reap(self, known: list[Handle]) -> None:
        ids = {str(h.get("container_id")) for h in known} | {str(h.get("name")) for h in known}
        await self.remove_orphans(await self.orphans(ids))

    async def orphans(self, known: set[str]) -> list[str]:
        """Ids of batchd's containers that belong to no known attempt (`known`: container ids or names),
        e.g. started right before a crash. Remove them with `remove_orphans`."""
        listed = await self._call(
            lambda api: api.containers(all=True, filters={"label": f"{LABEL_MANAGED}={self._owner}"})
        )
        ours = known | set(self._followers) | self._starting
        return [
            c["Id"] for c in listed if c["Id"] not in ours and not {n.lstrip("/") for n in c["Names"]} & ours
        ]

    async def remove_orphans(self, container_ids: Collection[str]) -> None:
        await asyncio.gather(*(self._remove(container_id) for container_id in container_ids))

    async def close(self) -> None:
        if self._removals:
            # Whatever is not removed by then is an orphan the next start removes.
            await asyncio.wait(self._removals, timeout=10)
        followers = list(self._followers.values())
        self._followers.clear()
        for follower in followers:
            follower.close()

        def join() -> None:
            for follower in followers:
                follower.join(5)

        await asyncio.to_thread(join)
        self._calls.shutdown(wait=False, cancel_futures=True)
        api, self._api = self._api, None  # not under the lock: a hung engine may hold it in `_connect`
        if api is not None:
            api.close()

    async def _running(self, container_id: str) -> bool:
        try:
            return bool(await self._call(lambda api: api.inspect_container(container_id)["State"]["Running"]))
        except NotFound:
            return False

    async def _kill(self, container_id: str, signal: str) -> bool:
        """False when there was nothing to signal: the container is gone or no longer runs."""
        try:
            await self._call(lambda api: api.kill(container_id, signal))
        except APIError as exc:
            if exc.status_code in (404, 409):
                return False
            raise
        return True

    async def _remove(self, container_id: str) -> None:
        try:
            await self._call(lambda api: api.remove_container(container_id, v=True, force=True))
        except NotFound:
            pass
        except TRANSIENT as exc:  # a leftover container is no reason to fail the attempt
            log.warning("cannot remove container %s: %s", container_id[:12], _detail(exc))


def _container_name(spec: LaunchSpec) -> str:
    """One name per attempt: a restarted server finds an attempt by it even without its handle.

    Container names allow [a-zA-Z0-9_.-] only: an array child's `<parent>:<index>` becomes
    `<parent>.<index>`, which no other job id can be (ids are UUIDs, or children of one)."""
    return f"batchd-{spec.job_id.replace(':', '.')}-{spec.attempt}"


def _ensure_image(api: docker.APIClient, image: str) -> None:
    """Pulls the image unless the engine has it."""
    try:
        with contextlib.suppress(ImageNotFound):
            api.inspect_image(image)  # type: ignore[no-untyped-call]  # untyped in types-docker
            return
        repository, tag = parse_repository_tag(image)
        # Without a tag the engine would pull every tag of the repository.
        for event in api.pull(repository, tag=tag or "latest", stream=True, decode=True):
            if "error" in event:  # a pull can fail after its response started: only the stream says so
                raise LaunchFailed(f"CannotPullContainerError: {event['error']}")
    except TRANSIENT as exc:
        raise LaunchFailed(f"CannotPullContainerError: {_detail(exc)}") from exc


def _create(api: docker.APIClient, spec: LaunchSpec, name: str, owner: str) -> str:
    """Creates and starts the attempt's container; raises LaunchFailed, leaving no container behind, or
    ImageNotFound when the engine lacks the image."""
    volumes = {v.get("name"): v for v in spec.volumes}
    binds: list[str] = []
    mounts: list[Mount] = []
    for point in spec.mount_points:
        volume = volumes.get(point.get("sourceVolume"))
        if volume is None:
            raise LaunchFailed(f"CannotStartContainerError: no volume named {point.get('sourceVolume')}")
        mode = "ro" if point.get("readOnly") else "rw"
        source = (volume.get("host") or {}).get("sourcePath")
        if source:  # a bind, which the engine creates when missing, like ECS does
            binds.append(f"{source}:{point['containerPath']}:{mode}")
        else:  # no host path: an anonymous volume, removed with the container
            mounts.append(Mount(point["containerPath"], None, read_only=mode == "ro"))
    memory = f"{max(spec.memory_mib, MIN_MEMORY_MIB)}m"
    host_config = api.create_host_config(
        binds=binds,
        mounts=mounts,
        mem_limit=memory,
        memswap_limit=memory,  # equal: no swap
        cpu_shares=max(2, int(spec.vcpus * 1024)),
        read_only=spec.readonly_root,
        privileged=spec.privileged,
        ulimits=[Ulimit(name=u["name"], soft=u["softLimit"], hard=u["hardLimit"]) for u in spec.ulimits],
        # As AWS Batch runs simple jobs on EC2 (networkMode host): the host's network, and no network
        # namespace to set up for each container. A confined (untrusted) job gets no network at all, so
        # loopback services (batchd itself, a database) are out of its reach.
        network_mode="none" if spec.confined else "host",
        **(CONFINED_HOST_CONFIG if spec.confined else {}),
    )
    labels = {LABEL_JOB: spec.job_id, LABEL_ATTEMPT: str(spec.attempt), LABEL_MANAGED: owner}

    def create() -> str:
        created = api.create_container(
            spec.image,
            command=spec.command or None,
            environment=spec.environment,
            user=spec.user,
            labels=labels,
            name=name,
            host_config=host_config,
        )
        return str(created["Id"])

    try:
        try:
            container_id = create()
        except APIError as exc:
            if exc.status_code != 409:
                raise
            # This very attempt's container, left by a start that crashed before its handle was stored.
            api.remove_container(name, v=True, force=True)
            container_id = create()
    except ImageNotFound:
        raise  # for the caller to pull it
    except TRANSIENT as exc:
        raise LaunchFailed(f"CannotStartContainerError: {_detail(exc)}") from exc
    try:
        api.start(container_id)
    except TRANSIENT as exc:
        with contextlib.suppress(*TRANSIENT):
            api.remove_container(container_id, v=True, force=True)
        raise LaunchFailed(f"CannotStartContainerError: {_detail(exc)}") from exc
    return container_id

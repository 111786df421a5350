"""The Docker executor against a real engine (`eval "$(.ci/docker-up)"; export DOCKER_HOST`).

Every test runs the local `busybox:latest` image: nothing can be pulled here.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from batchd.executors import docker as docker_executor
from batchd.executors.base import OOM_REASON, AttemptEnd, LaunchFailed, LaunchSpec
from batchd.executors.docker import DockerExecutor
from batchd.logs.reader import read_all


def _engine_problem() -> str | None:
    try:
        docker.from_env(timeout=30).close()  # asks the engine its version; a busy engine is still one
    except Exception as exc:
        return f"no Docker engine at {os.environ.get('DOCKER_HOST', 'the default socket')}: {exc}"
    return None


PROBLEM = _engine_problem()
pytestmark = pytest.mark.skipif(
    PROBLEM is not None, reason=f'{PROBLEM} (start one with: eval "$(.ci/docker-up)"; export DOCKER_HOST)'
)
IMAGE = "busybox:latest"
PREFIX = f"test{uuid.uuid4().hex[:8]}"  # this run's job ids, to clean up what a failed test leaves


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    for container in client.containers.list(all=True, filters={"label": "batchd.managed=true"}):
        if container.labels.get("batchd.job-id", "").startswith(PREFIX):
            container.remove(force=True, v=True)
    client.close()


def make_spec(tmp_path: Path, *command: str, **fields: Any) -> LaunchSpec:
    job_id = f"{PREFIX}-{uuid.uuid4().hex[:12]}"
    defaults: dict[str, Any] = {"image": IMAGE, "environment": {}, "vcpus": 0.25, "memory_mib": 64}
    return LaunchSpec(
        job_id=job_id,
        attempt=1,
        command=list(command),
        log_path=tmp_path / "logs" / f"{job_id}.log",
        work_dir=tmp_path,
        **{**defaults, **fields},
    )


def run_attempt(spec: LaunchSpec) -> AttemptEnd:
    async def scenario() -> AttemptEnd:
        executor = DockerExecutor()
        try:
            return await executor.wait(spec, await executor.start(spec))
        finally:
            await executor.close()

    return asyncio.run(scenario())


def messages(spec: LaunchSpec, stream: str | None = None) -> list[str]:
    return [e.message for e in read_all(spec.log_path) if stream in (None, e.origin)]


async def wait_for_line(spec: LaunchSpec, line: str) -> None:
    for _ in range(600):
        if spec.log_path.exists() and line in messages(spec):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{line!r} never logged")


def test_exit_codes(tmp_path: Path) -> None:
    assert run_attempt(make_spec(tmp_path, "true")) == AttemptEnd(0)
    assert run_attempt(make_spec(tmp_path, "sh", "-c", "exit 3")) == AttemptEnd(3)


def test_default_command_of_the_image(tmp_path: Path) -> None:
    assert run_attempt(make_spec(tmp_path)) == AttemptEnd(0)  # `sh` with no stdin


def test_stdout_and_stderr_lines_with_their_stream(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sh", "-c", "echo one; echo two >&2; echo three; printf 'no newline'")
    assert run_attempt(spec).exit_code == 0
    events = read_all(spec.log_path)
    # Each stream in order; across streams the engine gives no order (two pipes, read apart).
    assert messages(spec, "stdout") == ["one", "three", "no newline"]
    assert messages(spec, "stderr") == ["two"]
    now = time.time() * 1000
    assert all(now - 300_000 < e.timestamp <= now for e in events)  # the engine's timestamps, in ms


def test_long_line_is_one_event(tmp_path: Path) -> None:
    # The engine splits lines over 16 KiB into several log entries.
    spec = make_spec(
        tmp_path, "sh", "-c", "i=0; while [ $i -lt 5000 ]; do printf 0123456789; i=$((i+1)); done; echo"
    )
    assert run_attempt(spec).exit_code == 0
    assert messages(spec) == ["0123456789" * 5000]


def test_environment(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, "sh", "-c", 'echo "$GREETING $NAME"', environment={"GREETING": "hi", "NAME": "batch"}
    )
    assert run_attempt(spec).exit_code == 0
    assert messages(spec) == ["hi batch"]


def test_memory_limit_kills_with_oom_reason(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1", memory_mib=16)
    assert run_attempt(spec) == AttemptEnd(137, OOM_REASON)


def test_readonly_root_filesystem(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "touch", "/x", readonly_root=True)
    assert run_attempt(spec).exit_code != 0
    assert any("Read-only file system" in m for m in messages(spec, "stderr"))


def test_user(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "id", "-u", user="65534")
    assert run_attempt(spec).exit_code == 0
    assert messages(spec) == ["65534"]


def test_bind_mount_and_anonymous_volume(tmp_path: Path) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    spec = make_spec(
        tmp_path,
        "sh",
        "-c",
        "cat /data/in.txt && echo from container > /data/out.txt && echo scratch > /scratch/x "
        "&& cat /scratch/x && ! touch /ro/y",
        volumes=[
            {"name": "data", "host": {"sourcePath": str(host)}},
            {"name": "scratch"},
            {"name": "ro", "host": {"sourcePath": str(host)}},
        ],
        mount_points=[
            {"sourceVolume": "data", "containerPath": "/data", "readOnly": False},
            {"sourceVolume": "scratch", "containerPath": "/scratch"},
            {"sourceVolume": "ro", "containerPath": "/ro", "readOnly": True},
        ],
    )
    assert run_attempt(spec).exit_code == 0, messages(spec)
    assert messages(spec, "stdout") == ["from host", "scratch"]
    assert (host / "out.txt").read_text() == "from container\n"


def test_ulimit_nofile(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, "sh", "-c", "ulimit -n", ulimits=[{"name": "nofile", "softLimit": 100, "hardLimit": 100}]
    )
    assert run_attempt(spec).exit_code == 0
    assert messages(spec) == ["100"]


def test_missing_image_cannot_be_pulled(tmp_path: Path) -> None:
    with pytest.raises(LaunchFailed) as failure:
        run_attempt(make_spec(tmp_path, "true", image="nonexistent/image:1"))
    assert failure.value.reason.startswith("CannotPullContainerError: ")


def test_missing_executable_cannot_start_and_leaves_no_container(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    spec = make_spec(tmp_path, "/no/such/program")
    with pytest.raises(LaunchFailed) as failure:
        run_attempt(spec)
    assert failure.value.reason.startswith("CannotStartContainerError: ")
    assert not engine.containers.list(all=True, filters={"label": f"batchd.job-id={spec.job_id}"})


def test_container_labels_limits_and_removal(tmp_path: Path, engine: docker.DockerClient) -> None:
    spec = make_spec(tmp_path, "sleep", "30", vcpus=0.5, memory_mib=32)

    async def scenario() -> None:
        executor = DockerExecutor()
        try:
            handle = await executor.start(spec)
            assert handle["name"] == f"batchd-{spec.job_id}-1"
            attrs = engine.api.inspect_container(handle["container_id"])
            assert attrs["Config"]["Labels"] == {
                "batchd.job-id": spec.job_id,
                "batchd.attempt": "1",
                "batchd.managed": "true",
            }
            assert attrs["State"]["Running"]
            host = attrs["HostConfig"]
            assert (host["Memory"], host["MemorySwap"]) == (32 << 20, 32 << 20)
            assert (host["CpuShares"], host["NetworkMode"]) == (512, "host")
            await executor.stop(handle, 0)
            assert (await executor.wait(spec, handle)).exit_code == 137
            # Removed in the background once the end is known.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    engine.api.inspect_container(handle["container_id"])
                except docker.errors.NotFound:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the container was not removed")
        finally:
            await executor.close()

    asyncio.run(scenario())


def test_stop_sends_sigterm_then_sigkill_after_grace(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sleep", "60")  # pid 1 ignores SIGTERM: only SIGKILL ends it

    async def scenario() -> tuple[AttemptEnd, float]:
        executor = DockerExecutor()
        try:
            handle = await executor.start(spec)
            began = time.monotonic()
            await executor.stop(handle, 1)
            end = await executor.wait(spec, handle)
            await executor.stop(handle, 1)  # already gone: fine
            return end, time.monotonic() - began
        finally:
            await executor.close()

    end, seconds = asyncio.run(scenario())
    assert end.exit_code == 137
    assert 0.9 < seconds < 15


def test_stop_within_grace_when_the_process_handles_sigterm(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, "sh", "-c", "trap 'echo bye; exit 143' TERM; echo ready; while :; do sleep 0.1; done"
    )

    async def scenario() -> AttemptEnd:
        executor = DockerExecutor()
        try:
            handle = await executor.start(spec)
            await wait_for_line(spec, "ready")
            await executor.stop(handle, 30)
            return await executor.wait(spec, handle)
        finally:
            await executor.close()

    assert asyncio.run(scenario()).exit_code == 143
    assert messages(spec) == ["ready", "bye"]


def test_recover_running_container_then_wait(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sh", "-c", "echo before; echo err >&2; sleep 2; echo after; exit 5")

    async def scenario() -> tuple[AttemptEnd | None, AttemptEnd]:
        first = DockerExecutor()
        handle = await first.start(spec)
        await wait_for_line(spec, "err")
        await first.close()  # the server stops; the container runs on
        with spec.log_path.open("a") as file:  # as if it had crashed mid-write
            file.write('{"timestamp": 1, "str')
        second = DockerExecutor()
        try:
            recovered = await second.recover(spec, handle)
            return recovered, await second.wait(spec, handle)
        finally:
            await second.close()

    recovered, end = asyncio.run(scenario())
    assert recovered is None
    assert end == AttemptEnd(5)
    assert (messages(spec, "stdout"), messages(spec, "stderr")) == (
        ["before", "after"],
        ["err"],
    )  # no repeats


def _recover_after_exit(spec: LaunchSpec, engine: docker.DockerClient) -> AttemptEnd | None:
    """Starts the attempt, closes that executor, lets the container end, and recovers it with a new one."""

    async def scenario() -> AttemptEnd | None:
        first = DockerExecutor()
        handle = await first.start(spec)
        await first.close()
        engine.api.wait(handle["container_id"], timeout=30)
        second = DockerExecutor()
        try:
            return await second.recover(spec, handle)
        finally:
            await second.close()

    return asyncio.run(scenario())


def test_recover_exited_container(tmp_path: Path, engine: docker.DockerClient) -> None:
    spec = make_spec(tmp_path, "sh", "-c", "echo done; exit 7")

    assert _recover_after_exit(spec, engine) == AttemptEnd(7)
    assert messages(spec) == ["done"]
    assert not engine.containers.list(all=True, filters={"label": f"batchd.job-id={spec.job_id}"})


def test_recover_oom_killed_container(tmp_path: Path, engine: docker.DockerClient) -> None:
    spec = make_spec(tmp_path, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1", memory_mib=16)

    assert _recover_after_exit(spec, engine) == AttemptEnd(137, OOM_REASON)


def test_recover_container_gone(tmp_path: Path, engine: docker.DockerClient) -> None:
    spec = make_spec(tmp_path, "sleep", "60")

    async def scenario() -> AttemptEnd | None:
        first = DockerExecutor()
        handle = await first.start(spec)
        await first.close()
        engine.api.remove_container(handle["container_id"], force=True)
        second = DockerExecutor()
        try:
            return await second.recover(spec, handle)
        finally:
            await second.close()

    end = asyncio.run(scenario())
    assert end is not None and end.exit_code is None
    assert end.reason == f"CannotInspectContainerError: container batchd-{spec.job_id}-1 no longer exists"


def test_orphans(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sleep", "60")

    async def scenario() -> None:
        first = DockerExecutor()
        handle = await first.start(spec)
        assert handle["container_id"] not in await first.orphans(set())  # its own attempts are not orphans
        await first.close()
        second = DockerExecutor()
        try:
            assert handle["container_id"] in await second.orphans(set())
            assert handle["container_id"] not in await second.orphans({handle["container_id"]})
            assert handle["container_id"] not in await second.orphans({handle["name"]})
            await second.remove_orphans([handle["container_id"]])
            assert handle["container_id"] not in await second.orphans(set())
        finally:
            await second.close()

    asyncio.run(scenario())


def test_many_concurrent_attempts(tmp_path: Path) -> None:
    specs = [make_spec(tmp_path, "sh", "-c", f"echo {i}; exit {i % 3}") for i in range(24)]

    async def scenario() -> list[AttemptEnd]:
        executor = DockerExecutor()

        async def one(spec: LaunchSpec) -> AttemptEnd:
            return await executor.wait(spec, await executor.start(spec))

        try:
            return await asyncio.gather(*(one(spec) for spec in specs))
        finally:
            await executor.close()

    ends = asyncio.run(scenario())
    assert [end.exit_code for end in ends] == [i % 3 for i in range(24)]
    assert [messages(spec) for spec in specs] == [[str(i)] for i in range(24)]


def test_problem_names_an_unreachable_engine() -> None:
    problem = DockerExecutor("unix:///nonexistent/docker.sock").problem()
    assert problem is not None
    assert problem.startswith("Docker engine not reachable at unix:///nonexistent/docker.sock: ")


def test_problem_does_not_hang_on_a_mute_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_executor, "PING_TIMEOUT_S", 1)
    path = tmp_path / "mute.sock"
    with socket.socket(socket.AF_UNIX) as mute:  # accepts connections, never answers
        mute.bind(str(path))
        mute.listen()
        executor = DockerExecutor(f"unix://{path}")
        began = time.monotonic()
        problem = executor.problem()
        assert time.monotonic() - began < 3
        assert problem is not None and problem.startswith(f"Docker engine not reachable at unix://{path}: ")
        assert "timed out" in problem
        began = time.monotonic()
        assert executor.problem() is not None  # cached: no second wait
        assert time.monotonic() - began < 0.1
        asyncio.run(executor.close())


class _CountingProxy:
    """A unix-socket relay to the engine that counts the connections made through it."""

    def __init__(self, path: Path, engine_path: str) -> None:
        self.path, self.engine_path, self.accepted = path, engine_path, 0
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(str(path))
        self._listener.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine_path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()


def _engine_socket() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host.removeprefix("unix://") if host.startswith("unix://") else None


@pytest.mark.skipif(_engine_socket() is None, reason="the engine is not reached through a unix socket")
def test_calls_about_different_containers_reuse_connections(tmp_path: Path) -> None:
    engine_path = _engine_socket()
    assert engine_path is not None
    proxy = _CountingProxy(tmp_path / "engine.sock", engine_path)
    specs = [make_spec(tmp_path, "true") for _ in range(8)]

    async def scenario() -> list[AttemptEnd]:
        executor = DockerExecutor(f"unix://{proxy.path}")
        try:
            return [await executor.wait(spec, await executor.start(spec)) for spec in specs]
        finally:
            await executor.close()  # waits for the removals too

    try:
        assert asyncio.run(scenario()) == [AttemptEnd(0)] * len(specs)
    finally:
        proxy.close()
    # Every call reuses an idle connection (3 in all here); the bound leaves room for one log stream
    # held open per container. Without reuse every call about a new container connects afresh (41).
    assert proxy.accepted <= len(specs) + 4, proxy.accepted


# --- the follower against an engine that lags: the last output is never lost, never doubled ----------


class _Empty:
    """A log stream the engine ends before sending anything (logger closed, or a hiccup)."""

    status_code, text, content = 200, "", b""

    def __init__(self) -> None:
        self.raw = io.BytesIO(b"")

    def raise_for_status(self) -> None:
        return None

    def close(self) -> None:
        return None


class _LaggingEngine:
    """The real engine, except that chosen log requests answer nothing and the first inspections
    still say Running: the races a loaded engine produces, made deterministic."""

    def __init__(self, api: docker.APIClient, empty_logs: set[int], running_inspections: int) -> None:
        self._api, self._empty, self._running = api, empty_logs, running_inspections
        self.log_requests = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def get(self, url: str, **kwargs: Any) -> Any:
        self.log_requests += 1
        if self.log_requests in self._empty:
            return _Empty()
        return self._api.get(url, **kwargs)

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        found = self._api.inspect_container(container_id)
        if self._running > 0:
            self._running -= 1
            found["State"]["Running"] = True
        return dict(found)


def _exited(engine: docker.DockerClient, script: str) -> str:
    container = engine.containers.run(
        IMAGE, ["sh", "-c", script], detach=True, labels={"batchd.managed": "true", "batchd.job-id": PREFIX}
    )
    engine.api.wait(str(container.id), timeout=120)
    return str(container.id)


def _follow(api: Any, container_id: str, log: Path) -> dict[str, Any] | None:
    follower = docker_executor._Follower(api, container_id, log)
    follower.start()
    return follower.done.result(timeout=120)


def _stdout(log: Path) -> list[str]:
    return [e.message for e in read_all(log) if e.origin == "stdout"]


def test_tail_kept_when_the_stream_ends_before_the_engine_reports_the_stop(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    # First follow: every line, the tail unterminated; inspect still says Running; every later
    # request answers nothing (the engine closed the container's logger).
    container_id = _exited(engine, "echo one; printf 'no newline'")
    api = _LaggingEngine(engine.api, empty_logs={2, 3, 4, 5}, running_inspections=1)
    state = _follow(api, container_id, tmp_path / "out.log")
    assert state is not None and state["ExitCode"] == 0
    assert api.log_requests >= 2  # it did follow again
    assert _stdout(tmp_path / "out.log") == ["one", "no newline"]
    engine.api.remove_container(container_id, force=True)


def test_tail_read_when_the_followed_stream_ends_before_sending_it(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    container_id = _exited(engine, "echo one; echo two >&2; printf 'no newline'")
    api = _LaggingEngine(engine.api, empty_logs={1}, running_inspections=0)
    assert _follow(api, container_id, tmp_path / "out.log") is not None
    assert _stdout(tmp_path / "out.log") == ["one", "no newline"]
    assert [e.message for e in read_all(tmp_path / "out.log") if e.origin == "stderr"] == ["two"]
    engine.api.remove_container(container_id, force=True)


def test_tail_resent_by_a_later_follow_is_written_once(tmp_path: Path, engine: docker.DockerClient) -> None:
    container_id = _exited(engine, "echo one; printf 'no newline'")
    log = tmp_path / "out.log"
    # Followed again while "running": the engine sends the tail again, then the last read too.
    assert _follow(_LaggingEngine(engine.api, set(), running_inspections=2), container_id, log) is not None
    assert _stdout(log) == ["one", "no newline"]
    # A new follower of the same log (the server restarted after writing it) adds nothing.
    assert _follow(engine.api, container_id, log) is not None
    assert _stdout(log) == ["one", "no newline"]
    engine.api.remove_container(container_id, force=True)


def test_last_output_without_newline_many_times(tmp_path: Path) -> None:
    specs = [make_spec(tmp_path, "sh", "-c", f"echo {i}; printf 'tail {i}'") for i in range(12)]

    async def scenario() -> list[AttemptEnd]:
        executor = DockerExecutor()

        async def one(spec: LaunchSpec) -> AttemptEnd:
            return await executor.wait(spec, await executor.start(spec))

        try:
            return await asyncio.gather(*(one(spec) for spec in specs))
        finally:
            await executor.close()

    assert asyncio.run(scenario()) == [AttemptEnd(0)] * len(specs)
    assert [messages(spec) for spec in specs] == [[str(i), f"tail {i}"] for i in range(len(specs))]


def test_oom_reason_from_the_events_when_the_state_lacks_it(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    # The engine can record the exit before it handles the OOM notification: State.OOMKilled stays
    # false, only its "oom" event tells.
    oom = engine.containers.run(
        IMAGE,
        ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
        detach=True,
        mem_limit="16m",
        memswap_limit="16m",
        labels={"batchd.managed": "true", "batchd.job-id": PREFIX},
    )
    killed = engine.containers.run(
        IMAGE, ["sleep", "60"], detach=True, labels={"batchd.managed": "true", "batchd.job-id": PREFIX}
    )
    killed.kill()
    oom_id, killed_id = str(oom.id), str(killed.id)
    for container_id in (oom_id, killed_id):
        engine.api.wait(container_id, timeout=120)

    async def scenario() -> tuple[bool, bool]:
        executor = DockerExecutor()
        try:
            oom_state = {**engine.api.inspect_container(oom_id)["State"], "OOMKilled": False}
            killed_state = engine.api.inspect_container(killed_id)["State"]
            assert (oom_state["ExitCode"], killed_state["ExitCode"]) == (137, 137)
            return (
                await executor._oom_killed(oom_id, oom_state),
                await executor._oom_killed(killed_id, killed_state),
            )
        finally:
            await executor.close()

    assert asyncio.run(scenario()) == (True, False)
    for container in (oom, killed):
        container.remove(force=True)


def _ended_long_before(state: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The state of a container whose process ended `seconds` before the engine says (FinishedAt)."""
    finished = docker_executor._epoch(state["FinishedAt"])
    assert finished is not None
    moment = datetime.fromtimestamp(finished - seconds, UTC)
    return {**state, "FinishedAt": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def test_oom_reason_when_the_engine_logs_the_end_long_after_the_exit(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    # A loaded engine logs a container's die, and a late oom after it, seconds after the process ended
    # (State.FinishedAt). Asked right after that, the events must still be read up to the present, and
    # the wait for a late oom counted from the die, not from FinishedAt (long past here).
    oom = engine.containers.run(
        IMAGE,
        ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
        detach=True,
        mem_limit="16m",
        memswap_limit="16m",
        labels={"batchd.managed": "true", "batchd.job-id": PREFIX},
    )
    killed = engine.containers.run(
        IMAGE, ["sleep", "60"], detach=True, labels={"batchd.managed": "true", "batchd.job-id": PREFIX}
    )
    killed.kill()
    oom_id, killed_id = str(oom.id), str(killed.id)

    async def scenario() -> tuple[bool, bool]:
        executor = DockerExecutor()
        try:
            ends = []
            for container_id in (oom_id, killed_id):
                engine.api.wait(container_id, timeout=120)
                state = {**engine.api.inspect_container(container_id)["State"], "OOMKilled": False}
                assert state["ExitCode"] == 137
                ends.append(await executor._oom_killed(container_id, _ended_long_before(state, 30)))
            return ends[0], ends[1]
        finally:
            await executor.close()

    assert asyncio.run(scenario()) == (True, False)
    for container in (oom, killed):
        container.remove(force=True)

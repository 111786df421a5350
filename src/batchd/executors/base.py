"""What every executor offers the scheduler: start an attempt, observe its end, stop it, recover it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


@dataclass(frozen=True)
class LaunchSpec:
    """One attempt of one job, in the executor's terms."""

    job_id: str
    attempt: int
    image: str
    command: list[str]
    environment: dict[str, str]
    vcpus: float
    memory_mib: int
    log_path: Path
    work_dir: Path
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mount_points: list[dict[str, Any]] = field(default_factory=list)
    readonly_root: bool = False
    privileged: bool = False
    ulimits: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    # An untrusted account's attempt: no host network, no privileges (docs/security.md).
    confined: bool = False


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt ended. `exit_code` is None when the process never ran or could not be observed."""

    exit_code: int | None
    reason: str | None = None
    # The attempt never started (bad image, no command): the job's statusReason is "Task failed to start".
    launch_failed: bool = False


class LaunchFailed(Exception):
    """The attempt could not be started; the message becomes the container's reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:255]


# What an executor remembers of a running attempt (a pid, a container id), stored with the job so a
# restarted server can find it again. Must be JSON-serialisable.
Handle = dict[str, Any]


class Executor(Protocol):
    name: str

    def problem(self) -> str | None:
        """Why this executor cannot run jobs now, or None when it can."""

    async def open(self) -> None:
        """Gets ready to start attempts, so the first job does not wait for it; never raises."""

    async def start(self, spec: LaunchSpec) -> Handle:
        """Starts the attempt and returns once it runs; raises LaunchFailed."""

    async def wait(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd:
        """Returns when the attempt has ended and its logs are kept."""

    async def stop(self, handle: Handle, grace_seconds: float) -> None:
        """Asks the attempt to end (SIGTERM), then forces it (SIGKILL) after the grace period."""

    async def recover(self, spec: LaunchSpec, handle: Handle) -> AttemptEnd | None:
        """After a restart: None if the attempt still runs (then `wait` reattaches), else how it ended."""

    async def find(self, spec: LaunchSpec) -> Handle | None:
        """After a restart: the handle of an attempt started while its handle was not yet stored, or None
        when nothing of it exists (or the executor cannot tell)."""

    async def reap(self, known: list[Handle]) -> None:
        """After a restart: removes what this executor started that no job knows (a crash mid-launch)."""

    async def close(self) -> None:
        """Releases what the executor holds (connections, threads)."""

"""Settings, read once from `batchd serve` flags and BATCHD_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".batchd")
    region: str = "us-east-1"
    account_id: str = DEFAULT_ACCOUNT_ID
    credentials_file: Path | None = None
    # Open mode (no credentials file) binds to loopback only unless this is set.
    allow_open_remote: bool = False
    executor: str = "auto"
    # Seconds between SIGTERM and SIGKILL when a running job is terminated.
    stop_grace_seconds: float = 30.0
    retention_days: float = 7.0
    max_depends_on: int = 100
    # AWS's floor for timeout.attemptDurationSeconds; lowered only to test timeouts quickly.
    min_timeout_seconds: int = 60
    log_level: str = "info"
    # Host directories untrusted accounts' job definitions may mount (docs/security.md).
    host_mount_allow: tuple[str, ...] = ()
    # URLs every job event is POSTed to (docs/jobs.md, Events).
    event_webhooks: tuple[str, ...] = ()
    # Seconds between keep-alive comments on an idle /events stream; lowered only by tests.
    event_heartbeat_seconds: float = 15.0

    @property
    def database_path(self) -> Path:
        return self.data_dir / "batchd.sqlite3"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

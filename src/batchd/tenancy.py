"""Who may do what on this server: trusted accounts, per-account quotas, host paths a job may mount.

Open mode (no credentials file) has one account on loopback and keeps every freedom. In credentials
mode an account is untrusted unless one of its profiles says `batchd_trusted = true`: its jobs get no
host processes, no privileged containers, no host network and no host mounts outside the operator's
allow-list. Quotas are per account, set in any of its profiles. docs/security.md is the reference.
"""

from __future__ import annotations

import configparser
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUSTED_KEY = "batchd_trusted"
QUOTA_KEYS = {
    "batchd_max_running_vcpus": "running_vcpus",
    "batchd_max_memory_mib": "memory_mib",
    "batchd_max_queued_jobs": "queued_jobs",
}
# Where a Docker engine's socket usually is: a mount of it is a mount of the whole host.
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class Quota:
    """Limits of one account; None is no limit."""

    running_vcpus: float | None = None
    memory_mib: int | None = None
    queued_jobs: int | None = None


@dataclass(frozen=True)
class Tenancy:
    # None: open mode, every caller trusted.
    trusted_accounts: frozenset[str] | None = None
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    # Host directories an untrusted job definition may mount (resolved, absolute).
    mount_allow_list: tuple[Path, ...] = ()

    def trusted(self, account: str) -> bool:
        return self.trusted_accounts is None or account in self.trusted_accounts

    def quota(self, account: str) -> Quota:
        return self.quotas.get(account) or Quota()

    def host_path_allowed(self, source: str) -> bool:
        """Whether an untrusted job may bind-mount `source`: inside an allowed directory, symlinks
        resolved, so `..` or a link cannot lead out of it."""
        if not os.path.isabs(source):
            return False
        real = Path(os.path.realpath(source))
        return any(real == allowed or allowed in real.parents for allowed in self.mount_allow_list)


def check_mount_allow_list(paths: Iterable[str], data_dir: Path) -> tuple[Path, ...]:
    """The operator's allow-list, resolved; ValueError for a path that would expose the host or batchd:
    `/`, the data directory (or a directory holding it) or a Docker engine's socket."""
    resolved: list[Path] = []
    data = Path(os.path.realpath(data_dir))
    sockets = [Path(os.path.realpath(s)) for s in _engine_sockets()]
    for given in paths:
        if not given:
            continue
        if not os.path.isabs(given):
            raise ValueError(f"host mount allow-list entry {given!r} must be an absolute path")
        path = Path(os.path.realpath(given))
        if path == Path("/"):
            raise ValueError(f"host mount allow-list entry {given!r} is the root directory: never allowed")
        if path == data or path in data.parents or data in path.parents:
            raise ValueError(
                f"host mount allow-list entry {given!r} overlaps the data directory {data}: never allowed"
            )
        for socket in sockets:
            if socket == path or path in socket.parents:
                raise ValueError(
                    f"host mount allow-list entry {given!r} holds the Docker engine socket {socket}: "
                    "never allowed"
                )
        resolved.append(path)
    return tuple(resolved)


def _engine_sockets() -> list[str]:
    found = list(ENGINE_SOCKETS)
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        found.append(host.removeprefix("unix://"))
    return found


def load_tenancy(credentials_file: Path | None, mount_allow_list: tuple[Path, ...] = ()) -> Tenancy:
    """Trust and quotas from the credentials file's profiles (`batchd_trusted`, `batchd_max_*`).

    Trust and quotas belong to the account: profiles of one account that disagree are an error, so an
    operator never wonders which of them won. ValueError names the profile and the key."""
    if credentials_file is None:
        return Tenancy(None, {}, mount_allow_list)
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00batchd-no-default")
    try:
        with open(credentials_file, encoding="utf-8") as handle:
            parser.read_file(handle, source=str(credentials_file))
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"credentials file {credentials_file} cannot be read: {exc}") from exc
    trust: dict[str, tuple[bool, str]] = {}
    quotas: dict[str, tuple[dict[str, Any], str]] = {}
    for profile in parser.sections():
        section = parser[profile]
        account = section.get("aws_account_id", "").strip()
        where = f"credentials file {credentials_file}, profile [{profile}]"
        is_trusted = _flag(section.get(TRUSTED_KEY, "false"), f"{where}: {TRUSTED_KEY}")
        if account in trust and trust[account][0] != is_trusted:
            raise ValueError(
                f"{where}: {TRUSTED_KEY} differs from profile [{trust[account][1]}] of the same account "
                f"{account}; trust is per account"
            )
        trust[account] = (is_trusted, profile)
        limits: dict[str, Any] = {
            field_name: _limit(section[key], f"{where}: {key}", integer=field_name != "running_vcpus")
            for key, field_name in QUOTA_KEYS.items()
            if key in section
        }
        if limits:
            if account in quotas and quotas[account][0] != limits:
                raise ValueError(
                    f"{where}: quotas differ from profile [{quotas[account][1]}] of the same account "
                    f"{account}; give them in one profile"
                )
            quotas[account] = (limits, profile)
    trusted = frozenset(account for account, (yes, _) in trust.items() if yes)
    return Tenancy(
        trusted, {account: Quota(**limits) for account, (limits, _) in quotas.items()}, mount_allow_list
    )


def _flag(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{where} must be true or false, got {value!r}")


def _limit(value: str, where: str, *, integer: bool) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{where} must be {kind}, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{where} must be zero or more, got {value!r}")
    return number

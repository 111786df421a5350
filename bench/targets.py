"""The servers under test: how to install, start, health-check and stop each one.

Peers live in their own virtualenvs under bench/.peers/<name>/ so that nothing of theirs can leak into
batchd's environment (moto pins Flask/Werkzeug, localbatch pins FastAPI; batchd imports neither).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import dockerenv, procstat
from bench.dockerenv import DockerInfo
from bench.settings import PEERS_DIR, Settings

# Pinned so that figures from different days compare the same peer code; bump deliberately.
PEER_REQUIREMENTS: dict[str, tuple[str, str]] = {
    # family: (pip requirement, distribution whose version is reported)
    "moto": ("moto[server]==5.2.5", "moto"),
    "localbatch": ("localbatch==0.4.0", "localbatch"),
}

# Peers ignore a DISABLED compute environment and try to run every submitted job at once. For the API,
# throughput and scale workloads they get an engine address that does not exist, so those jobs fail
# straight away instead of starting containers; that is the closest they come to "queued, not run".
NO_DOCKER_HOST = "unix:///nonexistent/bench-no-docker.sock"

STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class TargetUnavailable(Exception):
    """The target cannot be benchmarked here; the message is the reason shown in the report."""


@dataclass(frozen=True)
class TargetSpec:
    name: str  # as shown in the report, e.g. "batchd-docker"
    family: str  # batchd | moto | localbatch
    jobs_in_docker: bool  # whether submitted jobs really run, in containers
    executor: str = "local"  # batchd only

    @property
    def is_batchd(self) -> bool:
        return self.family == "batchd"


# Targets of the API, throughput and scale workloads: jobs are queued but never run.
API_TARGETS = {
    "batchd": TargetSpec("batchd", "batchd", jobs_in_docker=False, executor="local"),
    "moto": TargetSpec("moto", "moto", jobs_in_docker=False),
    "localbatch": TargetSpec("localbatch", "localbatch", jobs_in_docker=False),
}

# Targets of the end-to-end workload: jobs really run.
E2E_TARGETS = {
    "batchd": [
        TargetSpec("batchd-local", "batchd", jobs_in_docker=False, executor="local"),
        TargetSpec("batchd-docker", "batchd", jobs_in_docker=True, executor="docker"),
    ],
    "moto": [TargetSpec("moto-docker", "moto", jobs_in_docker=True)],
    "localbatch": [TargetSpec("localbatch-docker", "localbatch", jobs_in_docker=True)],
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_peer(family: str) -> Path:
    """Create bench/.peers/<family>/ with the pinned requirement, once; return the venv directory."""
    requirement, _dist = PEER_REQUIREMENTS[family]
    venv = PEERS_DIR / family
    stamp = venv / ".bench-installed"
    if stamp.exists() and stamp.read_text().strip() == requirement:
        return venv
    log(f"installing {requirement} into {venv}")
    if venv.exists():
        shutil.rmtree(venv)
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            requirement,
        ],
    ]
    for cmd in steps:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            tail = " ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
            raise TargetUnavailable(f"could not install {requirement}: {tail}")
    stamp.write_text(requirement + "\n")
    return venv


def peer_version(family: str) -> str:
    _req, dist = PEER_REQUIREMENTS[family]
    py = PEERS_DIR / family / "bin" / "python"
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "unknown"


def batchd_version(settings: Settings) -> str:
    py = settings.batchd_bin.parent / "python"
    code = "import importlib.metadata as m; print(m.version('batchd'))"
    try:
        out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One running server process (in its own session, so stopping it takes its whole group)."""

    def __init__(self, spec: TargetSpec, settings: Settings, docker: DockerInfo) -> None:
        self.spec = spec
        self.settings = settings
        self.docker = docker
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.containers_before: set[str] = set()
        self.leftover_containers = 0
        # Filled by the e2e workload: the job ids whose containers this server may leave behind.
        self.job_ids: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _command(self) -> tuple[list[str], str]:
        """argv and health path. Every server keeps its default logging (moto and localbatch log each
        request), as it runs out of the box; the output goes to a file in the server's temporary dir."""
        host, port = "127.0.0.1", str(self.port)
        if self.spec.family == "batchd":
            if not self.settings.batchd_bin.exists():
                raise TargetUnavailable(f"{self.settings.batchd_bin} does not exist (batchd not installed)")
            data_dir = self.workdir / "data"
            data_dir.mkdir()
            argv = [str(self.settings.batchd_bin), "serve", "--host", host, "--port", port]
            argv += ["--data-dir", str(data_dir), "--executor", self.spec.executor]
            # As a real deployment runs: every request's SigV4 signature verified against this file.
            credentials = self.workdir / "credentials"
            credentials.write_text(
                "[bench]\naws_access_key_id = bench\naws_secret_access_key = bench\n"
                "aws_account_id = 123456789012\nbatchd_trusted = true\n"
            )
            argv += ["--credentials", str(credentials)]
            return argv, "/healthz"
        venv = PEERS_DIR / self.spec.family
        if self.spec.family == "moto":
            return [str(venv / "bin" / "moto_server"), "-H", host, "-p", port], "/moto-api/"
        if self.spec.family == "localbatch":
            return [str(venv / "bin" / "localbatch"), "--host", host, "--port", port], "/health"
        raise ValueError(self.spec.family)

    def _env(self) -> dict[str, str]:
        env = self.docker.env() if self.spec.jobs_in_docker else dict(os.environ)
        if not self.spec.jobs_in_docker and not self.spec.is_batchd:
            env["DOCKER_HOST"] = NO_DOCKER_HOST
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> Server:
        argv, health = self._command()
        if self.spec.jobs_in_docker:
            self.containers_before = dockerenv.containers(self.docker)
        log(f"starting {self.spec.name}: {' '.join(argv)}")
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TargetUnavailable(
                    f"{self.spec.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.endpoint + health, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TargetUnavailable(
            f"{self.spec.name} not healthy within {STARTUP_TIMEOUT_S:.0f} s: {self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def usage(self) -> procstat.Usage:
        return procstat.usage(self.pid)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except ProcessLookupError:
                pass
        if self.spec.jobs_in_docker:
            # Containers live in the engine, outside the server's process group: a server stopped mid-batch
            # (time limit) leaves them running, and they would slow down the next target.
            new = dockerenv.containers(self.docker) - self.containers_before
            left = dockerenv.ours(self.docker, new, self.job_ids)
            if left:
                log(f"removing {len(left)} containers left behind by {self.spec.name}")
                dockerenv.remove_containers(self.docker, left)
            self.leftover_containers = len(left)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe_versions(settings: Settings, families: list[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for fam in families:
        versions[fam] = batchd_version(settings) if fam == "batchd" else peer_version(fam)
    return versions

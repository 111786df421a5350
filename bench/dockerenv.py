"""Find a Docker engine that answers, or say exactly why there is none."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.settings import IMAGE, REPO_DIR

DEFAULT_SOCKET = Path("/var/run/docker.sock")
DOCKER_UP = REPO_DIR / ".ci" / "docker-up"


@dataclass(frozen=True)
class DockerInfo:
    available: bool
    reason: str  # why not, or where the engine is
    host: str | None = None
    server_version: str | None = None

    def env(self) -> dict[str, str]:
        """Environment for a child that should use this engine."""
        env = dict(os.environ)
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env


def containers(docker: DockerInfo) -> set[str]:
    """Ids of all containers (running or not) made from the benchmark image."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"ancestor={IMAGE}"],
        env=docker.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return set(out.stdout.split()) if out.returncode == 0 else set()


def ours(docker: DockerInfo, candidates: set[str], job_ids: set[str]) -> set[str]:
    """The candidates whose name or environment holds one of `job_ids`. The engine may be shared with
    other users (the project's own Docker tests), so a container is only ever removed when it carries a
    job id this bench submitted: moto puts it in the container name, localbatch (and batchd, like real
    Batch) in AWS_BATCH_JOB_ID."""
    if not candidates or not job_ids:
        return set()
    fmt = "{{.Id}} {{.Name}} {{range .Config.Env}}{{.}} {{end}}"
    out = subprocess.run(
        ["docker", "inspect", "--format", fmt, *sorted(candidates)],
        env=docker.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    found: set[str] = set()
    for line in out.stdout.splitlines():
        cid, _, rest = line.partition(" ")
        # A plain substring test: moto names containers "<job name>-<job id>", so ids are not tokens.
        if any(job_id in rest for job_id in job_ids):
            found.add(cid)
    return found


def remove_containers(docker: DockerInfo, ids: set[str]) -> None:
    if ids:
        subprocess.run(
            ["docker", "rm", "-f", *sorted(ids)], env=docker.env(), capture_output=True, timeout=300
        )


def _answers(host: str | None) -> tuple[bool, str]:
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    try:
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if out.returncode != 0:
        return False, (out.stderr.strip().splitlines() or ["docker version failed"])[-1]
    return True, out.stdout.strip()


def _start_engine() -> tuple[str | None, str]:
    """Run .ci/docker-up, which starts an engine and prints a DOCKER_HOST=... line."""
    try:
        out = subprocess.run(["bash", str(DOCKER_UP)], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{DOCKER_UP} failed: {exc}"
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        line = line.strip().removeprefix("export ")
        if line.startswith("DOCKER_HOST="):
            return line.split("=", 1)[1].strip().strip("'\""), ""
    return None, f"{DOCKER_UP} exited {out.returncode} without printing DOCKER_HOST=..."


def detect(skip: bool) -> DockerInfo:
    if skip:
        return DockerInfo(False, "--skip-docker given")
    if shutil.which("docker") is None:
        return DockerInfo(False, "no docker CLI on PATH")
    host = os.environ.get("DOCKER_HOST") or None
    if host is None and not DEFAULT_SOCKET.exists():
        if not DOCKER_UP.exists():
            return DockerInfo(
                False,
                f"no engine answers: DOCKER_HOST unset, {DEFAULT_SOCKET} absent, {DOCKER_UP} does not exist",
            )
        host, why = _start_engine()
        if host is None:
            return DockerInfo(False, why)
    ok, detail = _answers(host)
    if not ok:
        return DockerInfo(False, f"engine at {host or DEFAULT_SOCKET} does not answer: {detail}")
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    # No pulls are possible here, so a missing image is a reason to skip, not something to fix.
    img = subprocess.run(["docker", "image", "inspect", IMAGE], env=env, capture_output=True, timeout=30)
    if img.returncode != 0:
        return DockerInfo(False, f"engine answers but image {IMAGE} is not present (pulls are not possible)")
    return DockerInfo(True, f"engine {detail} at {host or DEFAULT_SOCKET}", host=host, server_version=detail)

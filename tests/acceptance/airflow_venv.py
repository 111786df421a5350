"""A virtual environment with Airflow's amazon provider from PyPI, made once per machine and reused.

It lives in `.venv-airflow/<stamp>/` at the repository's root, where the stamp is a digest of the
requirements and of the Python that runs the tests: changing a pin makes a new one. Two pytest processes
that want it at once take turns on a lock file; the second finds it ready. A half-made environment (a
killed run) has no ready mark and is made again from scratch.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / ".venv-airflow"
# Airflow's own constraint files are not on PyPI, so the pins are exact and pip resolves the rest.
REQUIREMENTS = (
    "apache-airflow==3.3.2",
    "apache-airflow-providers-amazon==9.39.0",
)
# What pip prints when it cannot reach an index, as opposed to a resolution or build failure. (Not "No
# matching distribution found": pip says that of a pin that does not exist, too, which must fail, not skip.)
NETWORK_ERRORS = (
    "NewConnectionError",
    "ConnectTimeoutError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ProxyError",
)
# With retries off pip prints none of the above, only that the index listed no release at all of a project
# that has hundreds: unreachable too. (A pin that does not exist gets "from versions: 3.3.2, ...".)
NOTHING_LISTED = "requirement apache-airflow==", "(from versions: none)"


class NoNetwork(Exception):
    """PyPI could not be reached, so the environment cannot be made here."""


@dataclass(frozen=True)
class AirflowVenv:
    path: Path
    # Seconds this process spent making it; 0.0 when it was already there.
    created_in: float

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def stamp() -> str:
    text = "\n".join([sys.version, *REQUIREMENTS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure(log: Path | None = None) -> AirflowVenv:
    """The environment, made now if no earlier run made it. Raises NoNetwork when PyPI is unreachable."""
    ROOT.mkdir(exist_ok=True)
    name = stamp()
    path = ROOT / name
    ready = path / ".ready"
    with (ROOT / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return AirflowVenv(path, 0.0)
        started = time.monotonic()
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        python = str(path / "bin" / "python")
        result = subprocess.run(
            [python, "-m", "pip", "install", "--no-input", "--progress-bar", "off", *REQUIREMENTS],
            capture_output=True,
            text=True,
        )
        if log is not None:
            log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            unreachable = any(marker in result.stderr for marker in NETWORK_ERRORS)
            if unreachable or all(marker in result.stderr for marker in NOTHING_LISTED):
                raise NoNetwork(result.stderr.strip().splitlines()[-1])
            raise RuntimeError(f"pip install {' '.join(REQUIREMENTS)} failed:\n{result.stderr[-4000:]}")
        ready.write_text(f"{time.monotonic() - started:.1f}\n")
        return AirflowVenv(path, time.monotonic() - started)


if __name__ == "__main__":
    venv = ensure()
    print(f"{venv.path} (made in {venv.created_in:.0f}s)")

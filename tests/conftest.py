from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh open-mode server with the local executor and a fast stop grace."""
    flags = ["--executor", "local", "--stop-grace-seconds", "2", "--min-timeout-seconds", "1"]
    with Server(tmp_path / "data", flags) as srv:
        yield srv


@pytest.fixture
def client(server: Server) -> Any:
    return server.client()


@pytest.fixture
def loose(server: Server) -> Any:
    """A client that sends what it is given: the server, not botocore, must refuse bad input."""
    return server.client(parameter_validation=False)


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    """A directory of gate files for jobs made with jobtools.gated_command."""
    path = tmp_path / "gates"
    path.mkdir()
    return path

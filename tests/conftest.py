from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh open-mode server with the local executor and a fast stop grace."""
    srv = Server(
        tmp_path / "data", ["--executor", "local", "--stop-grace-seconds", "2", "--min-timeout-seconds", "1"]
    )
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture
def client(server: Server):  # type: ignore[no-untyped-def]
    return server.client()

"""Connection handling of `batchd serve`: idle keep-alive timeout, many idle connections, garbage bytes."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Server, module_server

server = module_server()

IDLE_CONNECTIONS = 1000


@pytest.fixture
def enough_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_many_idle_connections_do_not_stop_the_server(
    server: Server, client: Any, enough_descriptors: None
) -> None:
    sockets: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        # With all of them open (and idle), an ordinary client is still answered.
        for _ in range(3):
            assert "computeEnvironments" in client.describe_compute_environments()
    finally:
        for sock in sockets:
            sock.close()
    assert "computeEnvironments" in client.describe_compute_environments()


def test_idle_keep_alive_connection_is_closed_by_the_server(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        received = b""
        while b'{"status":"ok"}' not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        # The keep-alive timeout is 5 s; the socket timeout (30 s) bounds the wait on a loaded machine.
        assert sock.recv(65536) == b""
        assert time.monotonic() - started < 30


def test_garbage_bytes_get_400(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"\x16\x03\x01\x00\xa5garbage that is not HTTP\r\n\r\n")
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 400"), received
    # AWS's error shape (tests/integration/test_http_errors.py checks it in full).
    assert b"\r\nx-amzn-errortype: ClientException\r\n" in received, received


def test_connection_that_never_completes_its_headers_is_closed(server: Server) -> None:
    # Nothing at all, half a request line, headers without their final blank line: all held open at once,
    # so the three deadlines run concurrently.
    partial = [b"", b"GET /hea", f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode()]
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=60) for _ in partial]
    try:
        for sock, sent in zip(sockets, partial, strict=True):
            if sent:
                sock.sendall(sent)
        started = time.monotonic()
        for sock in sockets:
            # The header deadline is 10 s; the socket timeout (60 s) bounds the wait on a loaded machine.
            assert sock.recv(65536) == b""
        assert time.monotonic() - started < 60
    finally:
        for sock in sockets:
            sock.close()

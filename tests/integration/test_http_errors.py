"""What uvicorn refuses itself gets AWS's error shape: malformed requests (400 ClientException) and requests
over the concurrency limit (503 ThrottlingException), each with Connection: close."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope

from batchd.protocol.connections import HeaderDeadlineProtocol
from tests.support import REGION, Server, module_server

server = module_server()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def _parse(raw: bytes) -> Answer:
    head, separator, body = raw.partition(b"\r\n\r\n")
    assert separator, raw
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split(" ")[1]), headers, body)


def _send_until_closed(port: int, request: bytes) -> Answer:
    """Sends `request` and reads until the server closes the connection (which it must)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return _parse(received)


def _assert_aws_error(answer: Answer, status: int, error_type: str) -> str:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-amzn-errortype"] == error_type
    assert answer.headers["connection"] == "close"
    uuid.UUID(answer.headers["x-amzn-requestid"])
    assert int(answer.headers["content-length"]) == len(answer.body)
    error = answer.error()
    assert set(error) == {"__type", "message"}
    assert error["__type"] == error_type
    message = error["message"]
    assert isinstance(message, str)
    return message


POST = "POST /v1/describecomputeenvironments HTTP/1.1\r\nHost: batchd\r\n"
MALFORMED: dict[str, tuple[bytes, str]] = {
    # name: (request, words of the message that tell what to change)
    "garbage request line": (b"HELLO there\r\n\r\n", "HTTP method in capitals"),
    "TLS to the plain-HTTP port": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n", "http://"),
    "unknown HTTP version": (b"GET /healthz HTTP/9.9\r\nHost: batchd\r\n\r\n", "HTTP/1.1"),
    "space in the path": (b"GET /a b HTTP/1.1\r\nHost: batchd\r\n\r\n", "percent-encoded"),
    "non-ASCII path": ("GET /h\u00e9llo HTTP/1.1\r\nHost: batchd\r\n\r\n".encode(), "percent-encode"),
    "bare LF line ends": (b"GET /healthz HTTP/1.1\nHost: batchd\n\n", "CRLF"),
    "space in a header name": (f"{POST}Bad Header: x\r\n\r\n".encode(), "`Name: value`"),
    "control character in a header value": (f"{POST}X-Thing: a\x01b\r\n\r\n".encode(), "control characters"),
    "Content-Length not a number": (f"{POST}Content-Length: ten\r\n\r\n".encode(), "decimal digits"),
    "Content-Length negative": (f"{POST}Content-Length: -1\r\n\r\n".encode(), "decimal digits"),
    "Content-Length too big": (f"{POST}Content-Length: {'9' * 30}\r\n\r\n".encode(), "decimal digits"),
    "Content-Length twice": (
        f"{POST}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}".encode(),
        "Content-Length once",
    ),
    "Content-Length with chunked": (
        f"{POST}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n".encode(),
        "not both",
    ),
    "Transfer-Encoding not chunked": (f"{POST}Transfer-Encoding: gzip\r\n\r\n{{}}".encode(), "chunked"),
    "chunk size not hexadecimal": (
        f"{POST}Transfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n".encode(),
        "hexadecimal",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_gets_a_client_exception(server: Server, name: str) -> None:
    request, hint = MALFORMED[name]
    message = _assert_aws_error(_send_until_closed(server.port, request), 400, "ClientException")
    assert message.startswith("The request is"), message
    assert hint in message, message


@pytest.mark.parametrize("bad", ["space in a header name", "chunk size not hexadecimal"])
def test_malformed_request_after_a_good_one_on_the_same_connection(server: Server, bad: str) -> None:
    # Pipelined: the good request is answered whole, then the malformed one is refused, then the server
    # closes (uvicorn alone would close at once, dropping the good request's answer).
    good = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    request, hint = MALFORMED[bad]
    answer = _send_until_closed(server.port, good + request)
    first, separator, rest = answer.body.partition(b"HTTP/1.1 400")
    assert answer.status == 200 and separator and first == b'{"status":"ok"}', answer
    message = _assert_aws_error(_parse(separator + rest), 400, "ClientException")
    assert hint in message, message


def test_server_still_answers_after_malformed_requests(server: Server, client: Any) -> None:
    for request, _ in MALFORMED.values():
        _send_until_closed(server.port, request)
    assert "computeEnvironments" in client.describe_compute_environments()


async def _ok(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """An application that answers every request: what is under test is the protocol in front of it."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


LIMIT = 2


@pytest.fixture
def limited_port() -> Iterator[int]:
    """A uvicorn server with batchd's protocol and a concurrency limit of LIMIT, in a thread.

    `batchd serve` fixes its limit (2048); opening that many connections would test the machine's limits
    rather than the answer, so this server is configured as cli.py does it, with a small limit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    # Listening before uvicorn runs: connections made until it accepts wait in the backlog.
    listener.listen(16)
    config = uvicorn.Config(
        _ok,
        http=HeaderDeadlineProtocol,
        limit_concurrency=LIMIT,
        # The idle connection that takes one place must not be closed while the test runs.
        timeout_keep_alive=120,
        lifespan="off",
        log_level="warning",
    )
    limited = uvicorn.Server(config)
    thread = threading.Thread(target=limited.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        limited.should_exit = True
        thread.join(30)
        listener.close()
        assert not thread.is_alive()


def _keep_open(port: int) -> socket.socket:
    """A connection that was answered once and stays open (keep-alive): it holds one place."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: batchd\r\n\r\n")
    received = b""
    while not received.endswith(b"\r\n\r\n{}"):
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received
    return sock


def test_over_the_concurrency_limit_gets_a_throttling_503(limited_port: int) -> None:
    held = [_keep_open(limited_port) for _ in range(LIMIT - 1)]
    try:
        answer = _send_until_closed(limited_port, POST.encode() + b"Content-Length: 2\r\n\r\n{}")
        message = _assert_aws_error(answer, 503, "ThrottlingException")
        assert f"({LIMIT})" in message and "retry" in message, message
    finally:
        for sock in held:
            sock.close()


def test_botocore_retries_the_503_and_reports_its_type(limited_port: int) -> None:
    held = [_keep_open(limited_port) for _ in range(LIMIT - 1)]
    try:
        client = botocore.session.get_session().create_client(
            "batch",
            endpoint_url=f"http://127.0.0.1:{limited_port}",
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )
        with pytest.raises(ClientError) as caught:
            client.describe_compute_environments()
        response: dict[str, Any] = caught.value.response
        assert response["Error"]["Code"] == "ThrottlingException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert response["ResponseMetadata"]["RetryAttempts"] == 1
    finally:
        for sock in held:
            sock.close()

"""Requests a captured or forged signature must not get through, and bodies that never fully arrive."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support import Server, uniq

KEY, SECRET, ACCOUNT = "AKIAFORGERY000000001", "forgery-secret", "333333333333"
PATH = "/v1/createcomputeenvironment"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("forgery")
    credentials = root / "credentials"
    credentials.write_text(
        f"[me]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\naws_account_id = {ACCOUNT}\n"
        "batchd_trusted = true\n"
    )
    with Server(root / "data", ["--executor", "local", "--credentials", str(credentials)]) as srv:
        yield srv


@pytest.fixture
def client(server: Server) -> Any:
    return server.client(KEY, SECRET)


def ce_body(name: str) -> bytes:
    return json.dumps(
        {
            "computeEnvironmentName": name,
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
        }
    ).encode()


def signed(
    server: Server,
    body: bytes,
    *,
    region: str = "us-east-1",
    service: str = "batch",
    payload_hash: str | None = None,
) -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=f"{server.endpoint}{PATH}", data=body, headers={"Content-Type": "application/json"}
    )
    if payload_hash is not None:
        request.headers["X-Amz-Content-SHA256"] = payload_hash
    SigV4Auth(Credentials(KEY, SECRET), service, region).add_auth(request)
    return dict(request.headers.items())


def post(server: Server, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def names(client: Any) -> list[str]:
    return [
        ce["computeEnvironmentName"] for ce in client.describe_compute_environments()["computeEnvironments"]
    ]


def test_real_boto3_calls_still_work(client: Any) -> None:
    name = uniq("ok")
    client.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
    )
    assert name in names(client)


@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1"])
def test_signature_for_another_region_is_refused(server: Server, client: Any, region: str) -> None:
    name = uniq("region")
    body = ce_body(name)
    status, error = post(server, body, signed(server, body, region=region))
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    assert "region" in error["message"]
    assert name not in names(client)


def test_boto3_client_of_another_region_is_refused(server: Server, client: Any) -> None:
    other = boto3.client(
        "batch",
        endpoint_url=server.endpoint,
        region_name="us-west-2",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    name = uniq("region")
    with pytest.raises(ClientError) as caught:
        other.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            computeResources={"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": 1},
        )
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert name not in names(client)


@pytest.mark.parametrize("service", ["logs", "s3"])
def test_signature_for_another_service_is_refused(server: Server, client: Any, service: str) -> None:
    name = uniq("service")
    body = ce_body(name)
    status, error = post(server, body, signed(server, body, service=service))
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    assert error["message"] == "Credential should be scoped to correct service: 'batch'."
    assert name not in names(client)


def test_unsigned_payload_is_refused(server: Server, client: Any) -> None:
    name = uniq("unsigned")
    body = ce_body(name)
    status, error = post(server, body, signed(server, body, payload_hash="UNSIGNED-PAYLOAD"))
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    assert "X-Amz-Content-SHA256" in error["message"]
    assert name not in names(client)


def test_captured_signature_replayed_with_another_body_is_refused(server: Server, client: Any) -> None:
    original, forged = uniq("original"), uniq("forged")
    for claimed in (None, hashlib.sha256(ce_body(original)).hexdigest()):
        headers = signed(server, ce_body(original), payload_hash=claimed)
        status, error = post(server, ce_body(forged), headers)
        assert (status, error["__type"]) == (403, "InvalidSignatureException"), error
    assert forged not in names(client) and original not in names(client)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_the_body_are_refused(server: Server, client: Any, literal: str) -> None:
    name = uniq("nan")
    body = (
        f'{{"computeEnvironmentName": "{name}", "type": "MANAGED", '
        f'"computeResources": {{"type": "EC2", "instanceRole": "ecsInstanceRole", "maxvCpus": {literal}}}}}'
    ).encode()
    status, error = post(server, body, signed(server, body))
    assert (status, error["__type"]) == (400, "ClientException")
    assert literal in error["message"]
    assert name not in names(client)


def test_disconnect_mid_body_creates_nothing(server: Server, client: Any) -> None:
    name = uniq("partial")
    body = ce_body(name)
    headers = signed(server, body)
    headers["Content-Length"] = "500"
    head = f"POST {PATH} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        sock.shutdown(socket.SHUT_WR)
        # The server closes its side without an answer once it sees the client gone.
        received = b""
        for _ in range(100):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert b"200 OK" not in received
    assert name not in names(client)


def test_unsigned_request_is_refused_before_its_body(server: Server) -> None:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 403
        assert json.loads(response.read())["__type"] == "MissingAuthenticationTokenException"


def test_websocket_upgrade_is_refused_with_4xx(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "GET",
            "/v1/describejobs",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
        response = conn.getresponse()
        response.read()
        assert 400 <= response.status < 500
    finally:
        conn.close()
    assert server.process is not None and server.process.poll() is None

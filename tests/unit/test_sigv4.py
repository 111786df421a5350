"""SigV4 verification against requests signed by botocore itself (docs/api.md, Signatures and accounts)."""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from batchd.errors import AuthError
from batchd.protocol.sigv4 import Credential, SignatureVerifier, load_credentials_file

PORT = 8000
URL = f"http://127.0.0.1:{PORT}/v1/describejobs"
BODY = b'{"jobs": ["7b4c8a3e-0000-4000-8000-000000000001"]}'
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
AKID = "AKIDBATCHDTEST000001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ACCOUNT = "123456789012"
OTHER = Credential("AKIDBATCHDTEST000002", "another/secret+key", "210987654321")
ME = Credential(AKID, SECRET, ACCOUNT)

Headers = list[tuple[str, str]]


def verifier(offset: float = 0.0, **kwargs: Any) -> SignatureVerifier:
    return SignatureVerifier({AKID: ME, OTHER.access_key_id: OTHER}, clock=lambda: NOW + offset, **kwargs)


def sign(
    body: bytes = BODY,
    *,
    url: str = URL,
    method: str = "POST",
    access_key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "batch",
    extra_headers: list[tuple[str, str]] | None = None,
    params: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
    at: float = NOW,
) -> tuple[str, str, str, Headers, bytes]:
    """Signs a request the way boto3's Batch client does and returns it as the server would receive it:
    (method, raw path, raw query string, header pairs, body)."""
    request = AWSRequest(method=method, url=url, data=body, params=params or {})
    request.headers["Content-Type"] = "application/json"
    for name, value in extra_headers or []:
        request.headers[name] = value  # HTTPHeaders appends, so a name may repeat
    request.context.update(context or {})
    signer = SigV4Auth(Credentials(access_key, secret, token), service, region)
    with mock.patch.object(
        botocore.auth, "get_current_datetime", lambda: datetime.datetime.fromtimestamp(at, datetime.UTC)
    ):
        signer.add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    # The HTTP client (urllib3) adds Host from the URL: with the port, as botocore signed it.
    headers: Headers = [("Host", parts.netloc)]
    headers += [(name, _text(value)) for name, value in prepared.headers.items()]
    return prepared.method, parts.path, parts.query, headers, prepared.body or b""


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def replace_header(headers: Headers, name: str, value: str | None) -> Headers:
    out = [(n, v) for n, v in headers if n.lower() != name.lower()]
    if value is not None:
        out.append((name, value))
    return out


def get_header(headers: Headers, name: str) -> str:
    return next(v for n, v in headers if n.lower() == name.lower())


def edit_authorization(headers: Headers, edit: Callable[[str], str]) -> Headers:
    return replace_header(headers, "Authorization", edit(get_header(headers, "Authorization")))


def expect_auth_error(call: Callable[[], object], status: int, error_type: str) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    assert (info.value.status, info.value.error_type) == (status, error_type), info.value.message
    return info.value


# ---------------------------------------------------------------------------------------------------------
# Good signatures


def test_good_signature_returns_the_callers_credential() -> None:
    method, path, query, headers, body = sign()
    assert "SignedHeaders=content-type;host;x-amz-date," in get_header(headers, "Authorization")
    assert verifier().verify(method, path, query, headers, body) == ME


def test_second_identity_is_told_apart() -> None:
    request = sign(access_key=OTHER.access_key_id, secret=OTHER.secret_access_key)
    assert verifier().verify(*request) == OTHER


def test_session_token_is_signed_and_verifies() -> None:
    request = sign(token="FQoGZXIvYXdzEXAMPLETOKEN//+=")
    assert "x-amz-security-token" in get_header(request[3], "Authorization")
    assert verifier().verify(*request) == ME


def test_real_botocore_client_request_verifies() -> None:
    """The whole client stack (serializer, handlers, signer, unsigned amz-sdk-* headers added later)."""
    captured: list[Any] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        captured.append(request)

        class Raw:
            def stream(self, **__: Any) -> Iterator[bytes]:
                yield b'{"jobs": []}'

        return AWSResponse(request.url, 200, {}, Raw())

    client = botocore.session.get_session().create_client(
        "batch",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{PORT}",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token="session-token",
    )
    client.meta.events.register("before-send.batch", capture)
    client.describe_jobs(jobs=["job-1"])
    (sent,) = captured
    parts = urlsplit(sent.url)
    headers = [("host", parts.netloc)] + [(n, _text(v)) for n, v in sent.headers.items()]
    real_clock = SignatureVerifier({AKID: ME})
    assert real_clock.verify(sent.method, parts.path, parts.query, headers, sent.body) == ME


def test_header_names_in_any_case() -> None:
    method, path, query, headers, body = sign()
    lower = [(n.lower(), v) for n, v in headers]
    upper = [(n.upper(), v) for n, v in headers]
    assert verifier().verify(method, path, query, lower, body) == ME
    assert verifier().verify(method, path, query, upper, body) == ME


def test_repeated_signed_header_is_joined_in_order() -> None:
    # The signer signs both values, joined with ","; botocore's prepare() then keeps only the last one
    # (HeadersDict), so the repeat is put back by hand the way an HTTP client would send it.
    method, path, query, headers, body = sign(
        extra_headers=[("X-Batchd-Test", "a  b"), ("X-Batchd-Test", "c")]
    )
    others = replace_header(headers, "X-Batchd-Test", None)
    repeated = others + [("X-Batchd-Test", "a  b"), ("x-batchd-test", "c")]
    assert verifier().verify(method, path, query, repeated, body) == ME
    for wrong in (others + [("X-Batchd-Test", "c"), ("X-Batchd-Test", "a b")], headers):
        with pytest.raises(AuthError, match="does not match the signature you provided"):
            verifier().verify(method, path, query, wrong, body)


def test_unsigned_headers_may_change() -> None:
    method, path, query, headers, body = sign()
    headers = replace_header(headers, "User-Agent", "something-else/1.0") + [("X-Forwarded-For", "10.0.0.1")]
    assert verifier().verify(method, path, query, headers, body) == ME


def test_query_string_is_canonicalised_like_botocore() -> None:
    request = sign(url=f"http://127.0.0.1:{PORT}/v1/listjobs", params={"b": "x y+z/é", "a": "", "c~": "1"})
    assert request[2]  # the query string really is on the wire
    assert verifier().verify(*request) == ME


def test_empty_body_verifies() -> None:
    assert verifier().verify(*sign(b"")) == ME


def test_date_header_instead_of_x_amz_date() -> None:
    # botocore signs with the HTTP Date header (and drops X-Amz-Date) when the request already has one.
    request = sign(extra_headers=[("Date", "placeholder")])
    assert "SignedHeaders=content-type;date;host," in get_header(request[3], "Authorization")
    assert not [n for n, _ in request[3] if n.lower() == "x-amz-date"]
    assert verifier().verify(*request) == ME


# ---------------------------------------------------------------------------------------------------------
# Host


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "batch.example.com:443", "localhost"])
def test_host_is_verified_exactly_as_received(host: str) -> None:
    method, path, query, headers, body = sign(url=f"http://{host}/v1/describejobs")
    assert get_header(headers, "Host") == host
    assert verifier().verify(method, path, query, headers, body) == ME


@pytest.mark.parametrize("received_host", ["127.0.0.1", "127.0.0.1:80", "127.0.0.1:8001", "localhost:8000"])
def test_host_different_from_the_signed_one_fails(received_host: str) -> None:
    method, path, query, headers, body = sign()
    headers = replace_header(headers, "Host", received_host)
    expect_auth_error(
        lambda: verifier().verify(method, path, query, headers, body), 403, "InvalidSignatureException"
    )


# ---------------------------------------------------------------------------------------------------------
# Payload hash


def test_unsigned_payload_is_refused() -> None:
    # What botocore sends over https with payload signing disabled: a signature that would carry any body.
    method, path, query, headers, body = sign(
        url=f"https://127.0.0.1:{PORT}/v1/describejobs", context={"payload_signing_enabled": False}
    )
    assert get_header(headers, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    for sent in (body, b'{"jobs": ["another"]}'):
        error = expect_auth_error(
            lambda sent=sent: verifier().verify(method, path, query, headers, sent),
            403,
            "InvalidSignatureException",
        )
        assert "X-Amz-Content-SHA256" in error.message and "UNSIGNED-PAYLOAD" in error.message


def test_sent_payload_hash_is_used_and_checked() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    method, path, query, headers, body = sign(extra_headers=[("X-Amz-Content-SHA256", digest)])
    assert verifier().verify(method, path, query, headers, body) == ME
    # The signature covers the claimed hash, so a changed body must be caught by checking the claim.
    error = expect_auth_error(
        lambda: verifier().verify(method, path, query, headers, b"{}"), 403, "InvalidSignatureException"
    )
    assert "X-Amz-Content-SHA256" in error.message


def test_payload_hash_that_is_not_a_hash_is_refused() -> None:
    request = sign(extra_headers=[("X-Amz-Content-SHA256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")])
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "InvalidSignatureException")
    assert "X-Amz-Content-SHA256" in error.message


def test_upper_case_payload_hash_of_the_body_verifies() -> None:
    digest = hashlib.sha256(BODY).hexdigest().upper()
    request = sign(extra_headers=[("X-Amz-Content-SHA256", digest)])
    assert verifier().verify(*request) == ME


@pytest.mark.parametrize("region", ["us-west-2", "eu-west-1"])
def test_scope_for_another_region_is_refused(region: str) -> None:
    request = sign(region=region)
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "InvalidSignatureException")
    assert "Credential should be scoped to a valid region" in error.message


def test_server_region_is_configurable() -> None:
    request = sign(region="eu-west-1")
    assert verifier(region="eu-west-1").verify(*request) == ME


@pytest.mark.parametrize("service", ["logs", "s3", "ecs"])
def test_scope_for_another_service_is_refused(service: str) -> None:
    request = sign(service=service)
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "InvalidSignatureException")
    assert error.message == "Credential should be scoped to correct service: 'batch'."


def test_expected_service_is_a_parameter() -> None:
    request = sign(service="logs")
    assert verifier(service="logs").verify(*request) == ME


# ---------------------------------------------------------------------------------------------------------
# Failures


def test_missing_authorization() -> None:
    method, path, query, headers, body = sign()
    headers = replace_header(headers, "Authorization", None)
    error = expect_auth_error(
        lambda: verifier().verify(method, path, query, headers, body),
        403,
        "MissingAuthenticationTokenException",
    )
    assert error.message == "Missing Authentication Token"


def _drop_x_amz_date(headers: Headers) -> Headers:
    return replace_header(headers, "X-Amz-Date", None)


def _auth(pattern: str, replacement: str) -> Callable[[Headers], Headers]:
    def edit(headers: Headers) -> Headers:
        def change(value: str) -> str:
            changed = re.sub(pattern, replacement, value)
            assert changed != value, (pattern, value)
            return changed

        return edit_authorization(headers, change)

    return edit


def _date(value: str) -> Callable[[Headers], Headers]:
    return lambda headers: replace_header(headers, "X-Amz-Date", value)


MALFORMED: dict[str, Callable[[Headers], Headers]] = {
    "sigv2 algorithm": lambda h: replace_header(h, "Authorization", f"AWS {AKID}:c2lnbmF0dXJl"),
    "hmac-sha1 algorithm": _auth(r"^AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
    "no credential": _auth(r"Credential=[^,]*, ", ""),
    "no signed headers": _auth(r"SignedHeaders=[^,]*, ", ""),
    "no signature": _auth(r", Signature=.*$", ""),
    "empty signature": _auth(r"Signature=.*$", "Signature="),
    "not key=value": _auth(r", Signature=", ", Junk, Signature="),
    "scope of 4 parts": _auth(r"/aws4_request", ""),
    "scope of 6 parts": _auth(r"/batch/", "/batch/extra/"),
    "scope not ending aws4_request": _auth(r"aws4_request", "aws5_request"),
    "signed headers without host": _auth(r"content-type;host;", "content-type;"),
    "signed headers without x-amz-date": _auth(r";x-amz-date", ""),
    "signed headers in upper case": _auth(r"content-type;host", "Content-Type;Host"),
    "signature too short": _auth(r"Signature=([0-9a-f]{63})[0-9a-f]", r"Signature=\1"),
    "signature not hex": _auth(r"Signature=[0-9a-f]", "Signature=g"),
    "missing x-amz-date": _drop_x_amz_date,
    "x-amz-date not basic iso": _date("2023-11-14T22:13:20Z"),
    "x-amz-date month 13": _date("20231314T221320Z"),
    "x-amz-date epoch": _date("1700000000"),
    "scope date not x-amz-date date": _auth(r"/20231114/", "/20231113/"),
    "two authorization headers": lambda h: h + [("authorization", get_header(h, "Authorization"))],
    "signed header absent": _auth(r";x-amz-date", ";x-amz-date;x-batchd-absent"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_authorization_is_400_incomplete_signature(case: str) -> None:
    method, path, query, headers, body = sign()
    headers = MALFORMED[case](headers)
    error = expect_auth_error(
        lambda: verifier().verify(method, path, query, headers, body), 400, "IncompleteSignatureException"
    )
    assert error.message


def test_unknown_access_key() -> None:
    request = sign(access_key="AKIDNOBODYKNOWS00000")
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "UnrecognizedClientException")
    assert error.message == "The security token included in the request is invalid."


MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


def test_wrong_secret() -> None:
    request = sign(secret="not-the-secret")
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "InvalidSignatureException")
    assert error.message == MISMATCH


def _flip_last_hex_digit(authorization: str) -> str:
    return authorization[:-1] + ("0" if authorization[-1] != "0" else "1")


TAMPERS: dict[str, Callable[[tuple[str, str, str, Headers, bytes]], tuple[str, str, str, Headers, bytes]]] = {
    "body": lambda r: (r[0], r[1], r[2], r[3], r[4].replace(b"0001", b"0002")),
    "body appended": lambda r: (r[0], r[1], r[2], r[3], r[4] + b" "),
    "content-type": lambda r: (r[0], r[1], r[2], replace_header(r[3], "Content-Type", "text/plain"), r[4]),
    "x-amz-date": lambda r: (r[0], r[1], r[2], replace_header(r[3], "X-Amz-Date", "20231114T221321Z"), r[4]),
    "session token": lambda r: (
        r[0],
        r[1],
        r[2],
        replace_header(r[3], "X-Amz-Security-Token", "other"),
        r[4],
    ),
    "method": lambda r: ("PUT", r[1], r[2], r[3], r[4]),
    "path": lambda r: (r[0], "/v1/terminatejob", r[2], r[3], r[4]),
    "query": lambda r: (r[0], r[1], "force=1", r[3], r[4]),
    "signature": lambda r: (r[0], r[1], r[2], edit_authorization(r[3], _flip_last_hex_digit), r[4]),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tampered_request_fails(case: str) -> None:
    request = TAMPERS[case](sign(token="session-token"))
    error = expect_auth_error(lambda: verifier().verify(*request), 403, "InvalidSignatureException")
    assert error.message == MISMATCH


# ---------------------------------------------------------------------------------------------------------
# Clock skew


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew_beyond_15_minutes_fails(minutes: int) -> None:
    request = sign()
    error = expect_auth_error(
        lambda: verifier(offset=minutes * 60).verify(*request), 403, "InvalidSignatureException"
    )
    assert error.message.startswith("Signature expired: ")
    assert "20231114T221320Z" in error.message  # the request time
    server_time = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW + minutes * 60))
    assert server_time in error.message
    assert "15 min" in error.message


@pytest.mark.parametrize("minutes", [14, -14, 15, -15, 0])
def test_clock_skew_within_15_minutes_passes(minutes: int) -> None:
    assert verifier(offset=minutes * 60).verify(*sign()) == ME


def test_skew_window_is_configurable() -> None:
    request = sign()
    assert verifier(offset=1800, max_skew_seconds=3600).verify(*request) == ME
    error = expect_auth_error(
        lambda: verifier(offset=61, max_skew_seconds=60).verify(*request), 403, "InvalidSignatureException"
    )
    assert "1 min." in error.message


# ---------------------------------------------------------------------------------------------------------
# Construction


def test_table_key_must_be_the_access_key_id() -> None:
    with pytest.raises(ValueError, match="AKIDBATCHDTEST000002"):
        SignatureVerifier({AKID: OTHER})


def test_credential_repr_hides_the_secret() -> None:
    assert SECRET not in repr(ME)


# ---------------------------------------------------------------------------------------------------------
# Credentials file

GOOD_FILE = f"""\
[default]
aws_access_key_id = {AKID}
aws_secret_access_key = {SECRET}
aws_account_id = {ACCOUNT}
region = us-east-1

[team-b]
aws_access_key_id={OTHER.access_key_id}
aws_secret_access_key={OTHER.secret_access_key}
aws_account_id={OTHER.account_id}
aws_session_token = ignored
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credentials"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_credentials_file(tmp_path: Path) -> None:
    assert load_credentials_file(write(tmp_path, GOOD_FILE)) == {AKID: ME, OTHER.access_key_id: OTHER}


def test_load_credentials_file_keeps_percent_in_secrets(tmp_path: Path) -> None:
    text = f"[p]\naws_access_key_id = {AKID}\naws_secret_access_key = a%b%%c\naws_account_id = {ACCOUNT}\n"
    assert load_credentials_file(str(write(tmp_path, text)))[AKID].secret_access_key == "a%b%%c"


def test_loaded_credentials_verify(tmp_path: Path) -> None:
    table = load_credentials_file(write(tmp_path, GOOD_FILE))
    assert SignatureVerifier(table, clock=lambda: NOW).verify(*sign()) == ME


@pytest.mark.parametrize("key", ["aws_access_key_id", "aws_secret_access_key", "aws_account_id"])
def test_credentials_file_missing_key(tmp_path: Path, key: str) -> None:
    text = "\n".join(
        line for line in GOOD_FILE.splitlines() if not line.replace(" ", "").startswith(key + "=")
    )
    with pytest.raises(ValueError, match=rf"profile \[default\]: {key} is missing"):
        load_credentials_file(write(tmp_path, text))


def test_credentials_file_empty_value(tmp_path: Path) -> None:
    text = GOOD_FILE.replace(f"aws_secret_access_key={OTHER.secret_access_key}", "aws_secret_access_key =")
    with pytest.raises(ValueError, match=r"profile \[team-b\]: aws_secret_access_key is empty"):
        load_credentials_file(write(tmp_path, text))


@pytest.mark.parametrize(
    "account", ["12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１２"]
)
def test_credentials_file_bad_account_id(tmp_path: Path, account: str) -> None:
    text = GOOD_FILE.replace(f"aws_account_id={OTHER.account_id}", f"aws_account_id={account}")
    with pytest.raises(ValueError, match=r"profile \[team-b\]: aws_account_id .* must be exactly 12 digits"):
        load_credentials_file(write(tmp_path, text))


def test_credentials_file_duplicate_access_key(tmp_path: Path) -> None:
    text = GOOD_FILE.replace(f"aws_access_key_id={OTHER.access_key_id}", f"aws_access_key_id={AKID}")
    with pytest.raises(ValueError, match=r"appears in both profile \[default\] and profile \[team-b\]"):
        load_credentials_file(write(tmp_path, text))


def test_credentials_file_bad_access_key(tmp_path: Path) -> None:
    text = GOOD_FILE.replace(f"aws_access_key_id={OTHER.access_key_id}", "aws_access_key_id=AKID/WITH/SLASH")
    with pytest.raises(ValueError, match=r"profile \[team-b\]: aws_access_key_id"):
        load_credentials_file(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aws_access_key_id = x\n", "not a valid INI"),  # no [profile] header
        (GOOD_FILE + "\n[default]\naws_account_id = 111111111111\n", "not a valid INI"),  # duplicate profile
        ("[p]\naws_access_key_id = a\naws_access_key_id = b\n", "not a valid INI"),  # duplicate key
        ("", "no profiles"),
        ("# only a comment\n", "no profiles"),
    ],
)
def test_credentials_file_malformed(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as info:
        load_credentials_file(write(tmp_path, text))
    assert str(tmp_path / "credentials") in str(info.value)


def test_credentials_file_default_section_is_not_inherited(tmp_path: Path) -> None:
    # configparser's [DEFAULT] would otherwise lend its account id to a profile that lacks one.
    text = f"[DEFAULT]\naws_account_id = {ACCOUNT}\n\n[p]\naws_access_key_id = A\naws_secret_access_key = s\n"
    with pytest.raises(ValueError, match=r"profile \[DEFAULT\]: aws_access_key_id is missing"):
        load_credentials_file(write(tmp_path, text))


def test_credentials_file_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_credentials_file(tmp_path / "nope")


def test_path_is_taken_raw_as_on_the_wire() -> None:
    # botocore URI-encodes the already-encoded path once more when signing (SigV4's double encoding for
    # services other than S3), so the server must hand over the path still percent-encoded.
    method, path, query, headers, body = sign(url=f"http://127.0.0.1:{PORT}/v1/a%20b~c")
    assert path == "/v1/a%20b~c"
    assert verifier().verify(method, path, query, headers, body) == ME
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(method, "/v1/a b~c", query, headers, body)

"""AWS Signature Version 4 verification of incoming requests (docs/api.md, Signatures and accounts).

The signature is recomputed with botocore's own signer (``botocore.auth.SigV4Auth``), so the server and the
SDKs that talk to it share one implementation of the canonical request, the string to sign and the key
derivation. The signer was written to *sign*, not to verify, so three of its choices are replaced:

* which headers are signed: the client's ``SignedHeaders`` list, with the values as received, instead of
  "every header botocore knows about" (a proxy may add headers the client never signed);
* the time: the client's ``X-Amz-Date``, instead of the server clock;
* the payload hash: always handed to the signer as ``X-Amz-Content-SHA256``, so it never calls
  ``AWSRequest.body``, which re-runs the whole request preparer on every access.
"""

from __future__ import annotations

import configparser
import email.utils
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import ReadOnlyCredentials

from batchd.errors import AuthError

__all__ = ["Credential", "SignatureVerifier", "load_credentials_file"]


@dataclass(frozen=True)
class Credential:
    """One identity the server accepts: an access key, its secret and the account its resources live in."""

    access_key_id: str
    # Kept out of repr so that logging a Credential (or an exception holding one) never leaks the secret.
    secret_access_key: str = field(repr=False)
    account_id: str


# ---------------------------------------------------------------------------------------------------------
# Credentials file

_ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
# The access key id ends up inside "Credential=<akid>/<date>/...", which is split on "/" and ","; anything
# outside this set could never be parsed back out of an Authorization header.
_ACCESS_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.+@-]+")
_REQUIRED_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_account_id")
# configparser copies the keys of its default section ("[DEFAULT]") into every other section. For a
# credentials file that would silently give a profile lacking aws_account_id another identity's account, so
# the default section is renamed to something no file can contain and "[DEFAULT]" is an ordinary profile.
_NO_DEFAULT_SECTION = "\x00batchd-no-default-section"


def load_credentials_file(path: str | os.PathLike[str]) -> dict[str, Credential]:
    """Reads a file in the format of ~/.aws/credentials (configparser): one profile per identity with
    aws_access_key_id, aws_secret_access_key and aws_account_id (12 digits). Raises ValueError with a
    message a person can act on (which profile, which key is missing/bad) on a malformed file,
    duplicate access key ids, or an account id that is not 12 digits.

    Returns the identities keyed by access key id. Other keys in a profile (region, aws_session_token, ...)
    are ignored. A file that cannot be opened raises the usual OSError (its message names the path)."""
    where = os.fspath(path)
    # No interpolation: a secret access key may well contain "%", which the default interpolation rejects.
    parser = configparser.ConfigParser(interpolation=None, default_section=_NO_DEFAULT_SECTION)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=where)
    except configparser.Error as exc:
        raise ValueError(f"credentials file {where} is not a valid INI/credentials file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"credentials file {where} is not UTF-8 text: {exc}") from exc

    profiles = parser.sections()
    if not profiles:
        # An empty table would leave the server open; refuse rather than guess that was intended.
        raise ValueError(
            f"credentials file {where} has no profiles; add a [name] section with "
            + ", ".join(_REQUIRED_KEYS)
        )

    credentials: dict[str, Credential] = {}
    profile_of: dict[str, str] = {}
    for profile in profiles:
        section = parser[profile]
        values: dict[str, str] = {}
        for key in _REQUIRED_KEYS:
            value = section.get(key, "").strip()
            if not value:
                state = "is empty" if key in section else "is missing"
                raise ValueError(f"credentials file {where}, profile [{profile}]: {key} {state}")
            values[key] = value
        access_key_id = values["aws_access_key_id"]
        if not _ACCESS_KEY_ID_RE.fullmatch(access_key_id):
            raise ValueError(
                f"credentials file {where}, profile [{profile}]: aws_access_key_id {access_key_id!r} may "
                "only contain letters, digits and _ . + @ -"
            )
        account_id = values["aws_account_id"]
        if not _ACCOUNT_ID_RE.fullmatch(account_id):
            raise ValueError(
                f"credentials file {where}, profile [{profile}]: aws_account_id {account_id!r} must be "
                "exactly 12 digits (e.g. 123456789012)"
            )
        if access_key_id in profile_of:
            raise ValueError(
                f"credentials file {where}: aws_access_key_id {access_key_id!r} appears in both profile "
                f"[{profile_of[access_key_id]}] and profile [{profile}]; each identity needs its own key"
            )
        profile_of[access_key_id] = profile
        credentials[access_key_id] = Credential(
            access_key_id=access_key_id,
            secret_access_key=values["aws_secret_access_key"],
            account_id=account_id,
        )
    return credentials


# ---------------------------------------------------------------------------------------------------------
# Verification

_ALGORITHM = "AWS4-HMAC-SHA256"
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_SCOPE_DATE_RE = re.compile(r"[0-9]{8}")
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}")
_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
# Header names are tokens (RFC 9110); upper case is refused separately, with its own message.
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9a-zA-Z-]+")
# urlsplit() only looks at the path of this URL; the host part is never signed (the Host header is).
_URL_PREFIX = "http://batchd.invalid"

_MISSING_TOKEN = "Missing Authentication Token"
_UNRECOGNIZED = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


class _ReceivedHeadersSigV4(SigV4Auth):  # type: ignore[misc]  # botocore ships no type information
    """botocore's SigV4 signer, told to sign exactly the headers the client said it signed.

    SigV4Auth keeps the credentials, region and service on the instance, and the region comes from each
    request's credential scope, so one of these is made per verification (its constructor only stores
    three attributes). The signed headers travel in the request context so nothing here is shared between
    concurrent verifications."""

    def headers_to_sign(self, request: Any) -> Any:
        return request.context["batchd_signed_headers"]


def _incomplete(message: str) -> NoReturn:
    raise AuthError(message, status=400, error_type="IncompleteSignatureException")


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse_authorization(value: str) -> _Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != _ALGORITHM:
        _incomplete(
            f"Unsupported Authorization algorithm {algorithm!r}: only {_ALGORITHM} (Signature Version 4) "
            "is accepted."
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, param = part.partition("=")
        if not sep:
            _incomplete(f"Authorization header component {part!r} is not of the form key=value.")
        if key in params:
            _incomplete(f"Authorization header has more than one {key!r} component.")
        params[key] = param.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not params.get(name)]
    if missing:
        _incomplete(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={algorithm} {rest.strip()}"
        )

    scope = params["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        _incomplete(
            "Credential must have the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/aws4_request, got "
            f"{params['Credential']!r}."
        )
    access_key_id, scope_date, region, scope_service, terminator = scope
    if terminator != "aws4_request":
        _incomplete(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not {terminator!r}."
        )
    if not _SCOPE_DATE_RE.fullmatch(scope_date):
        _incomplete(f"Date in Credential scope must be YYYYMMDD, got {scope_date!r}.")

    signed_headers = tuple(params["SignedHeaders"].split(";"))
    for name in signed_headers:
        if not _HEADER_NAME_RE.fullmatch(name):
            _incomplete(f"SignedHeaders contains an invalid header name {name!r}.")
        if name != name.lower():
            _incomplete(f"SignedHeaders must list header names in lower case, got {name!r}.")
    if "host" not in signed_headers:
        _incomplete("SignedHeaders must include 'host'.")
    if "x-amz-date" not in signed_headers and "date" not in signed_headers:
        _incomplete("SignedHeaders must include 'x-amz-date' (or 'date').")

    signature = params["Signature"]
    if not _SIGNATURE_RE.fullmatch(signature):
        _incomplete("Signature must be 64 hexadecimal characters.")
    return _Authorization(access_key_id, scope_date, region, scope_service, signed_headers, signature.lower())


def _request_time(received: Mapping[str, list[str]]) -> tuple[str, float]:
    """The request's SigV4 timestamp (YYYYMMDDTHHMMSSZ) and the same instant as a Unix time."""
    amz_dates = received.get("x-amz-date")
    if amz_dates:
        if len(amz_dates) > 1:
            _incomplete("The request has more than one X-Amz-Date header.")
        stamp = amz_dates[0].strip()
        match = _AMZ_DATE_RE.fullmatch(stamp)
        if match is None:
            _incomplete(f"X-Amz-Date must have the form YYYYMMDDTHHMMSSZ (UTC), got {stamp!r}.")
        year, month, day, hour, minute, second = (int(group) for group in match.groups())
        try:
            instant = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            _incomplete(f"X-Amz-Date {stamp!r} is not a valid date and time.")
        return stamp, instant.timestamp()

    # SigV4 allows the HTTP Date header instead; the string to sign then still carries the ISO 8601 basic
    # form of that instant (botocore's signer does the same when a request has a Date header).
    dates = received.get("date")
    if not dates:
        _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if len(dates) > 1:
        _incomplete("The request has more than one Date header.")
    try:
        parsed = email.utils.parsedate_to_datetime(dates[0])
    except (TypeError, ValueError):
        _incomplete(f"Date header {dates[0]!r} is not an HTTP date; send X-Amz-Date (YYYYMMDDTHHMMSSZ).")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.strftime(_TIMESTAMP_FORMAT), parsed.timestamp()


def _format_time(unix_time: float) -> str:
    return time.strftime(_TIMESTAMP_FORMAT, time.gmtime(unix_time))


class SignatureVerifier:
    """Checks the SigV4 signature of incoming requests against a fixed table of credentials.

    Holds no per-request state, so one instance can serve concurrent requests from several threads."""

    def __init__(
        self,
        credentials: Mapping[str, Credential],
        *,
        region: str = "us-east-1",
        service: str = "batch",
        max_skew_seconds: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_skew_seconds < 0:
            raise ValueError(f"max_skew_seconds must not be negative, got {max_skew_seconds}")
        # Paired up front with botocore's own (immutable) credentials type, so a verification allocates
        # nothing for the identity.
        self._identities: dict[str, tuple[Credential, Any]] = {}
        for key, credential in credentials.items():
            if key != credential.access_key_id:
                raise ValueError(
                    f"credentials table maps {key!r} to the credential of {credential.access_key_id!r}"
                )
            self._identities[key] = (
                credential,
                ReadOnlyCredentials(credential.access_key_id, credential.secret_access_key, None),
            )
        self._region = region
        self._service = service
        self._max_skew = max_skew_seconds
        self._clock = clock
        if max_skew_seconds % 60 == 0:
            self._window = f"{max_skew_seconds // 60} min."
        else:
            self._window = f"{max_skew_seconds} s"

    def require_authorization(self, headers: Sequence[tuple[str, str]], query_string: str) -> None:
        """The cheap check made before a request's body is read: raises the AuthError of `verify` for a
        request with no Authorization header (and no presigned X-Amz-* query), so an unsigned client cannot
        make the server wait for, or buffer, a body it would refuse anyway."""
        if any(name.lower() == "authorization" for name, _ in headers):
            return
        if any(key.startswith("X-Amz-") for key, _ in parse_qsl(query_string, keep_blank_values=True)):
            return
        raise AuthError(_MISSING_TOKEN, status=403, error_type="MissingAuthenticationTokenException")

    def verify(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        service: str | None = None,
    ) -> Credential:
        """Returns the caller's credential or raises AuthError. `headers` are (name, value) pairs as received
        (names in any case; a header may repeat). `service` is the signing name the request must be scoped
        to (the verifier's own when None): a Batch signature does not open CloudWatch Logs, nor the reverse.

        `path` and `query_string` are as on the wire, still percent-encoded (ASGI's raw_path and
        query_string decoded as latin-1), without the "?". Header values are expected decoded as latin-1,
        the way the bytes were sent."""
        received: dict[str, list[str]] = {}
        for name, value in headers:
            received.setdefault(name.lower(), []).append(value)

        authorizations = received.get("authorization")
        if not authorizations:
            raise AuthError(_MISSING_TOKEN, status=403, error_type="MissingAuthenticationTokenException")
        if len(authorizations) > 1:
            _incomplete("The request has more than one Authorization header.")
        auth = _parse_authorization(authorizations[0])
        # A signature is only good for the region and service it was scoped to (AWS checks both, 403).
        if auth.region != self._region:
            raise AuthError(
                f"Credential should be scoped to a valid region, not {auth.region!r}; this server is "
                f"region '{self._region}'.",
                status=403,
                error_type="InvalidSignatureException",
            )
        service = self._service if service is None else service
        if auth.service != service:
            raise AuthError(
                f"Credential should be scoped to correct service: '{service}'.",
                status=403,
                error_type="InvalidSignatureException",
            )
        timestamp, request_time = _request_time(received)
        if timestamp[:8] != auth.scope_date:
            _incomplete(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
            )
        for name in auth.signed_headers:
            if name not in received:
                _incomplete(
                    f"Header '{name}' is listed in SignedHeaders but is not in the request "
                    "(was it removed by a proxy?)."
                )

        identity = self._identities.get(auth.access_key_id)
        if identity is None:
            raise AuthError(_UNRECOGNIZED, status=403, error_type="UnrecognizedClientException")
        credential, botocore_credentials = identity

        now = self._clock()
        if abs(now - request_time) > self._max_skew:
            self._expired(timestamp, request_time, now)

        # The payload hash is always the hash of the body received. A client's X-Amz-Content-SHA256 must be
        # exactly that: UNSIGNED-PAYLOAD (or any other claim) would let a captured signature carry another
        # body. The signer gets the hash as a header, the path on which it skips hashing request.body.
        payload_hash = hashlib.sha256(body).hexdigest()
        claimed_hashes = received.get("x-amz-content-sha256")
        if claimed_hashes:
            if len(claimed_hashes) > 1:
                _incomplete("The request has more than one X-Amz-Content-SHA256 header.")
            claimed = claimed_hashes[0].strip()
            if claimed == UNSIGNED_PAYLOAD:
                raise AuthError(
                    f"X-Amz-Content-SHA256: {UNSIGNED_PAYLOAD} is not accepted; sign the hex SHA-256 of the "
                    "request body.",
                    status=403,
                    error_type="InvalidSignatureException",
                )
            if not _SHA256_HEX_RE.fullmatch(claimed):
                raise AuthError(
                    f"X-Amz-Content-SHA256 must be the hex SHA-256 of the request body, got {claimed!r} "
                    "(streaming payload signing is not supported).",
                    status=403,
                    error_type="InvalidSignatureException",
                )
            if not hmac.compare_digest(claimed.lower(), payload_hash):
                raise AuthError(
                    "The X-Amz-Content-SHA256 header does not match the SHA-256 of the request body.",
                    status=403,
                    error_type="InvalidSignatureException",
                )
            # The signed value is the header as sent (a client may send upper-case hex).
            payload_hash = claimed

        signed = HTTPHeaders()
        for name in auth.signed_headers:
            # HTTPHeaders keeps repeats, and the signer joins them with "," in the order received, as SigV4
            # requires. The host value is kept exactly as sent, port included.
            for value in received[name]:
                signed[name] = value

        request = AWSRequest(
            method=method,
            url=_URL_PREFIX + (path if path.startswith("/") else "/" + path),
            # Decoded here ("+" as space, as botocore's own client encodes spaces) and re-encoded by the
            # signer, which is how it built the canonical query string on the client side.
            params=parse_qsl(query_string, keep_blank_values=True),
        )
        request.headers["X-Amz-Content-SHA256"] = payload_hash
        request.context["timestamp"] = timestamp
        request.context["batchd_signed_headers"] = signed

        signer = _ReceivedHeadersSigV4(botocore_credentials, service, auth.region)
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, auth.signature):
            raise AuthError(_MISMATCH, status=403, error_type="InvalidSignatureException")
        return credential

    def _expired(self, timestamp: str, request_time: float, now: float) -> NoReturn:
        # Worded as AWS words RequestExpired, plus what to do about it.
        if request_time < now:
            detail = (
                f"{timestamp} is now earlier than {_format_time(now - self._max_skew)} "
                f"({_format_time(now)} - {self._window})"
            )
        else:
            detail = (
                f"{timestamp} is now later than {_format_time(now + self._max_skew)} "
                f"({_format_time(now)} + {self._window})"
            )
        raise AuthError(
            f"Signature expired: {detail}. The request time must be within {self._window} of the server "
            "time; check the client's clock.",
            status=403,
            error_type="InvalidSignatureException",
        )

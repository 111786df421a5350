"""Opaque, tamper-evident nextTokens: the operation, a hash of its filters and the last sort key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from batchd.errors import ClientException

DEFAULT_PAGE = 100


def page_size(params: Mapping[str, Any]) -> int:
    value = params.get("maxResults")
    if value is None:
        return DEFAULT_PAGE
    if not 1 <= value <= 100:
        raise ClientException(f"maxResults must be between 1 and 100, got {value}.")
    return int(value)


class Paginator:
    """Signs tokens with a server secret, so a forged or edited token is refused rather than obeyed."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _filters_hash(self, operation: str, account: str, filters: Any) -> str:
        raw = json.dumps([operation, account, filters], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def issue(self, operation: str, account: str, filters: Any, key: Any) -> str:
        body = json.dumps(
            {"f": self._filters_hash(operation, account, filters), "k": key}, separators=(",", ":")
        )
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(f"{mac}.{body}".encode()).decode().rstrip("=")

    def resume(self, operation: str, account: str, filters: Any, token: str | None) -> Any:
        """The sort key to continue after, or None for the first page."""
        if token is None or token == "":
            return None
        invalid = ClientException(
            "The nextToken is not valid for this request: pass the nextToken from the previous response "
            "unchanged, with the same filters."
        )
        try:
            padded = token + "=" * (-len(token) % 4)
            mac, body = base64.urlsafe_b64decode(padded.encode()).decode().split(".", 1)
            expected = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
            if not hmac.compare_digest(mac, expected):
                raise invalid
            decoded = json.loads(body)
        except (ValueError, UnicodeError):
            raise invalid from None
        if decoded.get("f") != self._filters_hash(operation, account, filters):
            raise invalid
        return decoded.get("k")

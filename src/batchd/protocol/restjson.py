"""rest-json framing: request body → parameters, result → response body, error → AWS's error shape."""

from __future__ import annotations

import json
import re
from typing import Any

from batchd.errors import BatchError, ClientException

MAX_BODY_BYTES = 1024 * 1024
# A \uD800-\uDFFF escape: valid JSON text, but alone it decodes to a lone surrogate, not a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (NaN, Infinity and -Infinity are refused)")


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's members. An empty body or JSON null means no members (SPEC §1.2)."""
    if len(body) > MAX_BODY_BYTES:
        raise ClientException(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientException(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ClientException(f"The request body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ClientException(
                "The request body holds a lone UTF-16 surrogate (\\uD800-\\uDFFF escape)."
            ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientException(f"The request body must be a JSON object, not a JSON {type(value).__name__}.")
    return value


def success_body(result: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN and Infinity are not JSON, so a result holding one fails (a 500) rather than
    # reaching a client whose parser would reject it.
    return json.dumps(result, separators=(",", ":"), allow_nan=False).encode()


def error_body(error: BatchError) -> bytes:
    return json.dumps({"__type": error.error_type, "message": error.message}, allow_nan=False).encode()

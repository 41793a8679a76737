"""Strict decoding of message bodies from bytes to JSON values."""

from __future__ import annotations

import json
import logging
from typing import Any

from streams.errors import RejectedMessage, RejectReason

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1_048_576
"""Largest body accepted by default, in bytes (1 MiB); larger bodies are rejected unread."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Decode a UTF-8 JSON body.

    Raises RejectedMessage with TOO_LARGE when ``body`` exceeds ``max_bytes``, INVALID_UTF8
    when it is not UTF-8, and NOT_JSON when it is not one JSON value (including NaN and
    Infinity, integers longer than Python's digit limit and nesting too deep to parse).
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise RejectedMessage(
            RejectReason.NOT_JSON,
            f"expected the body as bytes, got {type(body).__name__}",
        )

    size = len(body)
    if size > max_bytes:
        raise RejectedMessage(
            RejectReason.TOO_LARGE,
            f"body has {size} bytes, more than the maximum of {max_bytes}",
            detail={"size": size, "max_bytes": max_bytes},
        )

    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RejectedMessage(
            RejectReason.INVALID_UTF8,
            f"body is not valid UTF-8 at byte {error.start}",
            detail={"position": error.start, "error": error.reason},
        ) from None

    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise RejectedMessage(
            RejectReason.NOT_JSON,
            "body is nested too deeply to decode",
        ) from None
    except ValueError as error:
        raise RejectedMessage(
            RejectReason.NOT_JSON,
            f"body is not valid JSON: {error}",
        ) from None

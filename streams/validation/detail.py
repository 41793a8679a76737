"""Structured, size-bounded error detail for schema failures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

MAX_ERRORS = 20
"""Maximum number of schema errors listed in one rejection; the rest are only counted."""

MAX_VALUE_CHARS = 200
"""Maximum length of an offending value's repr in the detail, in characters."""


class SchemaErrorDetail(TypedDict):
    """One schema failure: where (JSONPath), which keyword failed, and the offending value."""

    path: str
    rule: str
    value: str
    message: str


def truncate(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


def json_path(parts: Iterable[Any]) -> str:
    """Format a sequence of keys and indexes as a JSONPath such as ``$.logs[0].url``."""
    path = "$"
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            path += f".{part}"
        else:
            path += f"[{str(part)!r}]"
    return path


def make_detail(parts: Sequence[Any], rule: str, value: Any, message: str) -> SchemaErrorDetail:
    """Build one detail entry with the value and message truncated."""
    return {
        "path": json_path(parts),
        "rule": rule,
        "value": truncate(_safe_repr(value)),
        "message": truncate(message),
    }


def _safe_repr(value: Any) -> str:
    # repr of a deeply nested value can itself hit the recursion limit.
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"

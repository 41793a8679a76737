"""The Kafka coordinates, key, headers and bytes of the event an agent is handling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceEvent:
    """One consumed Kafka record, kept raw so it can be dead-lettered unchanged."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] = field(default_factory=dict)

    # Record timestamp in seconds since the epoch, as Faust reports it.
    timestamp: float | None = None

    @classmethod
    def from_faust(cls, event: Any) -> SourceEvent:
        """Copy the fields of a Faust event whose key and value use the raw codec."""
        message = event.message
        return cls(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=_as_bytes(event.key),
            value=_as_bytes(event.value),
            headers=_header_map(message.headers),
            timestamp=message.timestamp,
        )

    @property
    def key_text(self) -> str | None:
        """Return the key decoded as UTF-8, with invalid bytes replaced."""
        if self.key is None:
            return None
        return self.key.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        """Return a header's value decoded as UTF-8, or None when the record lacks it."""
        value = self.headers.get(name)
        if value is None:
            return None
        return value.decode("utf-8", errors="replace")

    def text_headers(self) -> dict[str, str]:
        """Return every header decoded as UTF-8, as the dead-letter record stores them."""
        return {name: value.decode("utf-8", errors="replace") for name, value in self.headers.items()}

    @property
    def position(self) -> str:
        """Return `topic[partition]@offset`, the form used in logs."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected raw bytes from a topic with the raw codec, got {type(value).__name__}")


def _header_map(headers: Any) -> dict[str, bytes]:
    if not headers:
        return {}

    pairs = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, bytes] = {}
    for name, value in pairs:
        text_name = name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name)
        result[text_name] = _as_bytes(value) or b""
    return result

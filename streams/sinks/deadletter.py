"""Dead-letter records: what failed, why, and the original bytes, sent keyed by the source key."""

from __future__ import annotations

import base64
import logging
import traceback
from datetime import datetime, timezone
from typing import Any

from streams import metrics
from streams.agents.publish import Publisher, encode_json
from streams.agents.source import SourceEvent
from streams.errors import RejectedMessage, RejectReason

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = 900_000
"""Largest encoded dead-letter record, below Kafka's default limit of 1 MiB per record.

Bodies of records above it are cut, and the record then has ``body_truncated`` and ``body_size``."""

# Lines of traceback kept for an unexpected exception; the innermost frames matter most.
_TRACEBACK_LINES = 20


def utc_now_text() -> str:
    """Return the current time as ISO 8601 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_error(error: BaseException) -> tuple[str, str, Any]:
    """Return the reason, message and detail that a dead-letter record gives for ``error``.

    A RejectedMessage keeps its own reason. Any other exception is a poison message: its
    reason is `transform-error` and its detail contains the exception type and traceback.
    """
    if isinstance(error, RejectedMessage):
        return error.reason.value, error.message, error.detail

    lines = traceback.format_exception(type(error), error, error.__traceback__)
    detail = {
        "exception": type(error).__name__,
        "traceback": "".join(lines[-_TRACEBACK_LINES:]),
    }
    return RejectReason.TRANSFORM_ERROR.value, f"unexpected {type(error).__name__}: {error}", detail


def build_dead_letter_record(
    source: SourceEvent,
    *,
    stage: str,
    reason: str,
    message: str,
    detail: Any = None,
    body: bytes | None = None,
    failed_at: str | None = None,
) -> dict[str, Any]:
    """Build the dead-letter record for ``source``.

    ``body`` replaces the source value when the original bytes differ from what the event
    carries, as for a parked job rebuilt from a table. A body that would push the record past
    MAX_RECORD_BYTES is cut, and the record then has ``body_truncated`` set.
    """
    original = source.value if body is None else body
    original = original or b""

    record: dict[str, Any] = {
        "reason": reason,
        "message": message,
        "detail": detail if detail is not None else [],
        "stage": stage,
        "source": {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "key": source.key_text,
        },
        "headers": source.text_headers(),
        "body_base64": base64.b64encode(original).decode("ascii"),
        "failed_at": failed_at or utc_now_text(),
    }

    if len(encode_json(record)) > MAX_RECORD_BYTES:
        record["body_truncated"] = True
        record["body_size"] = len(original)
        overflow = len(encode_json(record)) - MAX_RECORD_BYTES
        # Base64 turns 3 bytes into 4 characters, so this many original bytes must go.
        keep = max(0, len(original) - (overflow * 3 + 3) // 4 - 3)
        record["body_base64"] = base64.b64encode(original[:keep]).decode("ascii")

    return record


class DeadLetterSink:
    """Sends dead-letter records and waits for the broker to store each one."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def send_error(
        self,
        source: SourceEvent,
        stage: str,
        error: BaseException,
        *,
        body: bytes | None = None,
    ) -> dict[str, Any]:
        """Dead-letter ``source`` because handling it raised ``error``; return the record sent."""
        reason, message, detail = describe_error(error)
        record = build_dead_letter_record(
            source, stage=stage, reason=reason, message=message, detail=detail, body=body
        )
        await self.send_record(source, record)
        return record

    async def send_record(self, source: SourceEvent, record: dict[str, Any]) -> None:
        """Send a built record keyed by the source key and count it."""
        await self._publisher.publish(source.key, record, context=source.position)

        metrics.DEAD_LETTERED.labels(stage=record["stage"], reason=record["reason"]).inc()
        logger.warning(
            "Dead-lettered %s key=%s stage=%s reason=%s: %s",
            source.position,
            source.key_text,
            record["stage"],
            record["reason"],
            record["message"],
        )

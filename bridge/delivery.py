"""One AMQP delivery as the bridge receives it: raw body bytes, routing data and properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """An AMQP delivery copied off the consumer thread; the body is never decoded."""

    body: bytes = field(repr=False)
    exchange: str
    routing_key: str
    delivery_tag: int
    redelivered: bool
    #: Connection generation of the listener; an ack is sent only on the channel it came from.
    generation: int
    received_at: datetime
    message_id: str | None = None
    timestamp: datetime | None = None
    content_type: str | None = None
    content_encoding: str | None = None


def delivery_from_amqp(message: Any, generation: int) -> Delivery:
    """Copy a py-amqp ``Message`` into a ``Delivery``, keeping the body bytes as they arrived."""
    info = message.delivery_info
    properties = message.properties
    body = message.body

    if isinstance(body, str):
        # Only when the channel's auto_decode is on, which the listener turns off.
        body = body.encode(properties.get("content_encoding") or "utf-8")
    elif not isinstance(body, bytes):
        body = bytes(body)

    return Delivery(
        body=body,
        exchange=info.get("exchange", ""),
        routing_key=info.get("routing_key", ""),
        delivery_tag=info["delivery_tag"],
        redelivered=bool(info.get("redelivered", False)),
        generation=generation,
        received_at=datetime.now(timezone.utc),
        message_id=properties.get("message_id"),
        timestamp=_utc_timestamp(properties.get("timestamp")),
        content_type=properties.get("content_type"),
        content_encoding=properties.get("content_encoding"),
    )


def _utc_timestamp(value: object) -> datetime | None:
    """Normalise the AMQP timestamp property, which py-amqp returns as a naive UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None

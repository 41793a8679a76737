"""Kafka records built from AMQP deliveries, with the headers fixed in docs/architecture.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.delivery import Delivery
from bridge.keys import job_key, push_key, task_key

KeySelector = Callable[[Delivery], bytes]

#: Key selector per listener kind.
KEY_SELECTORS: dict[str, KeySelector] = {"pushes": push_key, "jobs": job_key, "tasks": task_key}


@dataclass(frozen=True)
class KafkaRecord:
    """One record for the Kafka producer; every header value is UTF-8 text."""

    topic: str
    key: bytes
    value: bytes = field(repr=False)
    headers: tuple[tuple[str, bytes], ...]


def build_record(delivery: Delivery, topic: str, root_url: str, select_key: KeySelector) -> KafkaRecord:
    """Wrap the delivery's unchanged body in a record with its key and headers."""
    headers: list[tuple[str, str]] = [
        ("pulse.exchange", delivery.exchange),
        ("pulse.routing_key", delivery.routing_key),
        ("pulse.root_url", root_url),
        ("amqp.redelivered", "true" if delivery.redelivered else "false"),
    ]

    if delivery.message_id is not None:
        headers.append(("amqp.message_id", delivery.message_id))
    if delivery.timestamp is not None:
        headers.append(("amqp.timestamp", delivery.timestamp.isoformat()))
    if delivery.content_type is not None:
        headers.append(("amqp.content_type", delivery.content_type))
    if delivery.content_encoding is not None:
        headers.append(("amqp.content_encoding", delivery.content_encoding))

    headers.append(("bridge.received_at", delivery.received_at.isoformat(timespec="milliseconds")))

    return KafkaRecord(
        topic=topic,
        key=select_key(delivery),
        value=delivery.body,
        headers=tuple((name, value.encode("utf-8")) for name, value in headers),
    )

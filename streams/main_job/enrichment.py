"""Push enrichment seen on a run's topics: the enrich agent's records and the heads it moved.

The push ingest agent sends each push record at once and, when the record is not enriched,
copies the raw push to the enrichment topic with the bridge's headers. The enrich agent then
sends an enriched record with those same headers to the push-by-revision topic. A
push-by-revision record therefore comes from the enrich agent when it is enriched and its
delivery (AMQP message id and bridge receive time) has a copy on the enrichment topic. The
push ingest agent enriches only GitHub pushes that create a branch, and it copies none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.main_job.observe import MESSAGE_ID_HEADER, RECEIVED_AT_HEADER, KafkaRecord

Delivery = tuple[str | None, str | None]


@dataclass(frozen=True)
class MovedHead:
    """A push whose looked-up head differs from the head its message names."""

    message_key: str
    enriched_key: str


def delivery_of(record: KafkaRecord) -> Delivery:
    """Return the AMQP message id and bridge receive time that identify a record's delivery."""
    return record.headers.get(MESSAGE_ID_HEADER), record.headers.get(RECEIVED_AT_HEADER)


def is_enriched(record: KafkaRecord) -> bool:
    """Tell whether a push record carries a looked-up commit list."""
    return isinstance(record.value, dict) and record.value.get("enriched") is True


def enriched_by_lookup(pushes: Sequence[KafkaRecord], copies: Sequence[KafkaRecord]) -> list[KafkaRecord]:
    """Return the push-by-revision records that the enrich agent sent, in topic order."""
    copied = {delivery_of(record) for record in copies}
    return [record for record in pushes if is_enriched(record) and delivery_of(record) in copied]


def moved_heads(pushes: Sequence[KafkaRecord], copies: Sequence[KafkaRecord]) -> list[MovedHead]:
    """Return each push whose enriched record has another key than its first record, once.

    Both records are stored, because the database keys pushes by repository and revision.
    """
    copied = {delivery_of(record) for record in copies}
    message_keys: dict[Delivery, str] = {}
    enriched_keys: dict[Delivery, str] = {}

    for record in pushes:
        delivery = delivery_of(record)
        if delivery not in copied or record.key is None:
            continue
        target = enriched_keys if is_enriched(record) else message_keys
        target.setdefault(delivery, record.key)

    moved = {
        MovedHead(message_keys[delivery], enriched_key)
        for delivery, enriched_key in enriched_keys.items()
        if delivery in message_keys and message_keys[delivery] != enriched_key
    }
    return sorted(moved, key=lambda head: (head.message_key, head.enriched_key))

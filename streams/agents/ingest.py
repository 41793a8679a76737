"""Ingest stages: decode raw Pulse bodies, transform them, and re-key them by push."""

from __future__ import annotations

import logging
from datetime import datetime
from collections.abc import Sequence
from typing import Any

from streams.agents.join_plan import push_key
from streams.agents.publish import OutgoingRecord, Publisher
from streams.agents.source import SourceEvent
from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.decode import decode_json
from streams.transforms.job import transform_pulse_job
from streams.transforms.push import transform_push

logger = logging.getLogger(__name__)

EXCHANGE_HEADER = "pulse.exchange"
RECEIVED_AT_HEADER = "bridge.received_at"

PUSH_STAGE = "push-ingest"
JOB_STAGE = "job-ingest"


class PushIngest:
    """Turns a raw push body into a push record on the push-by-revision topic."""

    stage = PUSH_STAGE

    def __init__(
        self,
        registry: RepositoryRegistry,
        output: Publisher,
        max_bytes: int,
        enrichment: Publisher | None = None,
    ) -> None:
        self._registry = registry
        self._output = output
        self._max_bytes = max_bytes
        # Receives a copy of each push that still needs its commit list; None disables it.
        self._enrichment = enrichment

    @property
    def outputs(self) -> tuple[Publisher, ...]:
        """The push-by-revision publisher, then the enrichment one when enrichment is on."""
        if self._enrichment is None:
            return (self._output,)
        return (self._output, self._enrichment)

    def prepare(self, source: SourceEvent) -> tuple[OutgoingRecord | None, ...]:
        """Transform one raw push into its push record and, if needed, its enrichment copy.

        Raises RejectedMessage for a push that can never be accepted.
        """
        exchange, message = read_push_message(source, self._max_bytes)
        record = transform_push(
            exchange, message, self._registry, received_at=received_at_of(source)
        )

        key = push_key(record)
        headers = source.text_headers()
        push = OutgoingRecord(key, record, source.position, headers)
        logger.debug("Re-keyed push %s from %s (%s)", key, source.position, exchange)
        if self._enrichment is None:
            return (push,)

        # The enrichment copy goes out after the push record, so jobs do not wait for the lookup.
        if record["enriched"]:
            return (push, None)
        return (push, OutgoingRecord(key, source.value or b"", source.position, headers))

    async def __call__(self, source: SourceEvent) -> None:
        """Transform and send one raw push; rejections propagate as RejectedMessage."""
        await send_prepared(self.outputs, self.prepare(source))


class JobIngest:
    """Turns a raw pulse-job body into a job record keyed by push.

    The join's raw job router and the task agent use it. The record is joined in place or
    sent to the job-by-revision topic (see ``streams.agents.job_routing``).
    """

    stage = JOB_STAGE

    def __init__(self, registry: RepositoryRegistry, output: Publisher, max_bytes: int) -> None:
        self._registry = registry
        self._output = output
        self._max_bytes = max_bytes

    @property
    def outputs(self) -> tuple[Publisher, ...]:
        """The job-by-revision publisher."""
        return (self._output,)

    def prepare(self, source: SourceEvent) -> tuple[OutgoingRecord | None, ...]:
        """Decode and transform one raw job; rejections propagate as RejectedMessage."""
        message = decode_json(source.value or b"", self._max_bytes)
        return (self.job_record(message, source),)

    async def __call__(self, source: SourceEvent) -> None:
        """Transform and send one raw job; rejections propagate as RejectedMessage."""
        await send_prepared(self.outputs, self.prepare(source))

    async def send(self, message: dict[str, Any], source: SourceEvent) -> None:
        """Transform one pulse job built from ``source`` and send its job record."""
        await send_prepared(self.outputs, (self.job_record(message, source),))

    def job_record(self, message: dict[str, Any], source: SourceEvent) -> OutgoingRecord:
        """Transform one pulse job into its record, keyed by push."""
        record = transform_pulse_job(message, self._registry)

        key = push_key(record)
        logger.debug(
            "Transformed job %s state %s of push %s from %s",
            record["job"]["job_guid"],
            record["job"]["state"],
            key,
            source.position,
        )
        return OutgoingRecord(key, record, source.position, source.text_headers())


async def send_prepared(
    outputs: Sequence[Publisher], records: Sequence[OutgoingRecord | None]
) -> None:
    """Send each prepared record to its output in turn, waiting for each confirmation."""
    for output, record in zip(outputs, records):
        if record is None:
            continue
        await output.publish(
            record.key, record.value, context=record.context, headers=record.headers
        )


def read_push_message(source: SourceEvent, max_bytes: int) -> tuple[str, Any]:
    """Return the exchange header and the decoded body of a raw push record.

    Raises RejectedMessage: UNSUPPORTED_EXCHANGE without the header, or a decoding reason.
    """
    exchange = source.header(EXCHANGE_HEADER)
    if not exchange:
        raise RejectedMessage(
            RejectReason.UNSUPPORTED_EXCHANGE,
            f"record has no {EXCHANGE_HEADER} header, so the push format is unknown",
        )
    return exchange, decode_json(source.value or b"", max_bytes)


def received_at_of(source: SourceEvent) -> int | None:
    """Return when the bridge received the message (epoch seconds), else the record time."""
    text = source.header(RECEIVED_AT_HEADER)
    if text:
        try:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        except ValueError:
            logger.warning(
                "Ignoring invalid %s header %r of %s", RECEIVED_AT_HEADER, text, source.position
            )

    if source.timestamp:
        return int(source.timestamp)
    return None

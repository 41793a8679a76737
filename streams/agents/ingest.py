"""Ingest stages: decode raw Pulse bodies, transform them, and re-key them by push."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from streams.agents.join import push_key
from streams.agents.publish import Publisher
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

    async def __call__(self, source: SourceEvent) -> None:
        """Transform one raw push; rejections propagate as RejectedMessage."""
        exchange, message = read_push_message(source, self._max_bytes)
        record = transform_push(
            exchange, message, self._registry, received_at=received_at_of(source)
        )

        key = push_key(record)
        await self._output.publish(
            key, record, context=source.position, headers=source.text_headers()
        )
        logger.debug("Re-keyed push %s from %s (%s)", key, source.position, exchange)

        # The push is already on its way to the join, so its jobs never wait for the lookup.
        if self._enrichment is not None and not record["enriched"]:
            await self._enrichment.publish(
                key, source.value or b"", context=source.position, headers=source.text_headers()
            )
            logger.debug("Queued push %s from %s for enrichment", key, source.position)


class JobIngest:
    """Turns a raw pulse-job body into a job record on the job-by-revision topic."""

    stage = JOB_STAGE

    def __init__(self, registry: RepositoryRegistry, output: Publisher, max_bytes: int) -> None:
        self._registry = registry
        self._output = output
        self._max_bytes = max_bytes

    async def __call__(self, source: SourceEvent) -> None:
        """Transform one raw job; rejections propagate as RejectedMessage."""
        message = decode_json(source.value or b"", self._max_bytes)
        await self.send(message, source)

    async def send(self, message: dict[str, Any], source: SourceEvent) -> None:
        """Transform one pulse job built from ``source`` and send its job record."""
        record = transform_pulse_job(message, self._registry)

        key = push_key(record)
        await self._output.publish(
            key, record, context=source.position, headers=source.text_headers()
        )
        logger.debug(
            "Re-keyed job %s state %s to push %s from %s",
            record["job"]["job_guid"],
            record["job"]["state"],
            key,
            source.position,
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

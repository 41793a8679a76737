"""Batched ingest: transform a batch of raw events, send their records together, then ack."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from streams.agents.failures import reject_event
from streams.agents.faults import is_infrastructure_error
from streams.agents.join_plan import BatchItem
from streams.agents.publish import OutgoingRecord, Publisher
from streams.agents.retry import Backoff
from streams.agents.source import SourceEvent
from streams.sinks.deadletter import DeadLetterSink

logger = logging.getLogger(__name__)


class BatchableIngest(Protocol):
    """An ingest stage that turns one raw event into at most one record per output topic."""

    stage: str

    @property
    def outputs(self) -> Sequence[Publisher]:
        """Publishers of the output topics, in the order their records are sent."""

    def prepare(self, source: SourceEvent) -> Sequence[OutgoingRecord | None]:
        """Transform ``source`` into one record (or None) per output.

        Raises RejectedMessage for an event that can never be accepted.
        """


class IngestBatchHandler:
    """Batch handler for ``consume_batches`` that sends a whole batch's records together.

    Each event is transformed on its own, and an event whose transform fails is
    dead-lettered with its reason. The records of the other events go out output by output
    with ``publish_many``, in event order, so records of one key keep their order. An event
    rejected by an earlier output (a record too large) sends nothing to the later ones and
    is dead-lettered. The call returns once every record was confirmed or dead-lettered, so
    the caller acknowledges the batch only then. An infrastructure fault escapes, and the
    caller reruns the whole batch.
    """

    def __init__(self, ingest: BatchableIngest, dead_letters: DeadLetterSink, backoff: Backoff) -> None:
        self._ingest = ingest
        self._dead_letters = dead_letters
        self._backoff = backoff

    async def __call__(self, items: Sequence[BatchItem]) -> None:
        """Transform, send and dead-letter the events of one batch."""
        stage = self._ingest.stage
        failures: dict[int, BaseException] = {}
        prepared: dict[int, Sequence[OutgoingRecord | None]] = {}

        for index, item in enumerate(items):
            try:
                prepared[index] = self._ingest.prepare(item.source)
            except Exception as error:
                if is_infrastructure_error(error):
                    raise
                failures[index] = error

        for position, output in enumerate(self._ingest.outputs):
            sends: list[tuple[int, OutgoingRecord]] = []
            for index, records in prepared.items():
                record = records[position]
                if index not in failures and record is not None:
                    sends.append((index, record))
            if not sends:
                continue

            results = await output.publish_many([record for _, record in sends])
            for (index, _), rejection in zip(sends, results):
                if rejection is not None:
                    failures[index] = rejection

        for index in sorted(failures):
            await self._dead_letter(items[index].source, failures[index])

        logger.debug(
            "Handled a batch of %d events in %s: %d sent, %d dead-lettered",
            len(items),
            stage,
            len(items) - len(failures),
            len(failures),
        )

    async def _dead_letter(self, source: SourceEvent, error: BaseException) -> None:
        await reject_event(source, self._ingest.stage, error, self._dead_letters, self._backoff)

"""Raw job routing in the join: join a job in its raw partition, else re-key it by push."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from streams.agents.failures import reject_event
from streams.agents.faults import is_infrastructure_error
from streams.agents.ingest import JOB_STAGE, JobIngest
from streams.agents.join_plan import BatchItem
from streams.agents.partitioning import partition_for_key
from streams.agents.publish import OutgoingRecord, Publisher
from streams.agents.retry import Backoff
from streams.agents.source import SourceEvent
from streams.sinks.deadletter import DeadLetterSink

logger = logging.getLogger(__name__)


@dataclass
class RoutedRun:
    """A run of join events after routing: events to join, records to re-key, rejections."""

    items: list[BatchItem] = field(default_factory=list)
    forwards: list[tuple[SourceEvent, OutgoingRecord]] = field(default_factory=list)
    rejections: list[tuple[SourceEvent, BaseException]] = field(default_factory=list)


class RawJobRouter:
    """Transforms raw job events of a join batch and decides where each one is joined.

    The bridge keys a pulse job by its push (`<repository>/<revision>`), so the raw record
    is already in the partition of its push and the join handles it there. That saves the
    by-revision hop. A raw record keyed otherwise (by another producer, or a body the bridge
    could not read) lands in another partition. Its job record then goes to the
    job-by-revision topic, and the join handles it from there, as it handles the jobs of
    task events. When the raw topic's partition count differs from the tables', every raw job is
    re-keyed that way.
    """

    def __init__(
        self,
        *,
        raw_topic: str,
        table_partitions: int,
        topic_partitions: Callable[[str], Awaitable[int | None]],
        ingest: JobIngest,
        forward: Publisher,
        dead_letters: DeadLetterSink,
        backoff: Backoff,
    ) -> None:
        self._raw_topic = raw_topic
        self._table_partitions = table_partitions
        self._topic_partitions = topic_partitions
        self._ingest = ingest
        self._forward = forward
        self._dead_letters = dead_letters
        self._backoff = backoff
        self._co_partitioned: bool | None = None

    async def route(self, items: Sequence[BatchItem]) -> RoutedRun:
        """Transform the raw job events of ``items`` and keep the other events as they are.

        A raw job joined in place keeps its raw source event and carries its job record.
        Raises only infrastructure faults. Every other transform error becomes a rejection.
        """
        routed = RoutedRun()
        co_partitioned = await self._is_co_partitioned()
        for item in items:
            if item.source.topic != self._raw_topic:
                routed.items.append(item)
                continue

            try:
                outgoing = self._ingest.prepare(item.source)[0]
            except Exception as error:
                if is_infrastructure_error(error):
                    raise
                routed.rejections.append((item.source, error))
                continue

            assert outgoing is not None
            if co_partitioned and self._joins_in_place(outgoing, item.source):
                routed.items.append(replace(item, record=outgoing.value))
            else:
                routed.forwards.append((item.source, outgoing))

        return routed

    async def send(self, routed: RoutedRun) -> None:
        """Send the re-keyed records and dead-letter the rejected events of ``routed``.

        Returns once every record is stored or dead-lettered. Infrastructure faults escape,
        and the caller handles the batch again.
        """
        records = [record for _, record in routed.forwards]
        results = await self._forward.publish_many(records) if records else []
        rejections = list(routed.rejections)
        for (source, _), rejection in zip(routed.forwards, results):
            if rejection is not None:
                rejections.append((source, rejection))

        for source, error in rejections:
            await self._dead_letter(source, error)

        if routed.forwards:
            logger.debug(
                "Re-keyed %d raw jobs to the job-by-revision topic, the first from %s",
                len(routed.forwards),
                routed.forwards[0][0].position,
            )

    def _joins_in_place(self, outgoing: OutgoingRecord, source: SourceEvent) -> bool:
        key = outgoing.key.encode("utf-8") if isinstance(outgoing.key, str) else outgoing.key
        if key is None:
            return False
        return partition_for_key(key, self._table_partitions) == source.partition

    async def _is_co_partitioned(self) -> bool:
        # The count is read from the cluster metadata once it is known, and kept, because
        # Kafka never lowers a topic's partition count.
        if self._co_partitioned is None:
            count = await self._topic_partitions(self._raw_topic)
            if count is None:
                return False
            self._co_partitioned = count == self._table_partitions
            if not self._co_partitioned:
                logger.warning(
                    "Topic %s has %d partitions but the join tables have %d, so every raw job "
                    "is re-keyed through the job-by-revision topic",
                    self._raw_topic,
                    count,
                    self._table_partitions,
                )
        return self._co_partitioned

    async def _dead_letter(self, source: SourceEvent, error: BaseException) -> None:
        await reject_event(source, JOB_STAGE, error, self._dead_letters, self._backoff)

"""Faust's aiokafka consumer, with a seek to committed offsets that also rewinds new partitions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from faust.types import TP

logger = logging.getLogger(__name__)


class RewindingConsumerThread(AIOKafkaConsumerThread):
    """Consumer thread whose seek to committed offsets also moves partitions without one.

    Faust seeks every assigned partition back to its committed offset when table recovery
    ends, and whenever a fetch returns while flow is stopped, because it has just thrown
    away the records of that fetch. aiokafka's ``seek_to_committed`` (aiokafka 0.14.0) only
    moves partitions whose committed offset is above 0. A partition that has no committed
    offset yet therefore stays past the thrown-away records, and they are never fetched
    again: after a second worker joined, whole raw-job partitions stayed unread this way.
    Here such a partition goes back to offset 0, or to where ``consumer_auto_offset_reset``
    points when nothing was ever committed.
    """

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset or its reset position."""
        return await self.call_thread(self._seek_to_committed_or_reset)

    async def _seek_to_committed_or_reset(self) -> Mapping[Any, Any]:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()

        at_zero = [tp for tp, offset in committed.items() if offset == 0]
        for tp in at_zero:
            consumer.seek(tp, 0)

        uncommitted = [tp for tp, offset in committed.items() if offset is None or offset < 0]
        if uncommitted:
            await self._reset(consumer, uncommitted)

        if at_zero or uncommitted:
            logger.debug(
                "Rewound %d partitions committed at offset 0 and %d without a committed offset",
                len(at_zero),
                len(uncommitted),
            )
        return committed

    async def _reset(self, consumer: Any, partitions: list[Any]) -> None:
        strategy = str(self.app.conf.consumer_auto_offset_reset)
        if strategy == "earliest":
            await consumer.seek_to_beginning(*partitions)
        elif strategy == "latest":
            await consumer.seek_to_end(*partitions)
        else:
            logger.warning(
                "Left %d partitions without a committed offset where they are, because "
                "consumer_auto_offset_reset is %r",
                len(partitions),
                strategy,
            )


class RewindingConsumer(Consumer):
    """Faust's aiokafka consumer running a RewindingConsumerThread, with a deduplicated ack list.

    After a rebalance, records fetched before Faust's seek to the committed offsets reach
    the streams a second time after it. Faust (faust-streaming 0.15.3) can then hold the
    same offset twice in its list of acknowledged offsets, or an offset below the
    committed one. Its commit takes only the first run of consecutive numbers from that
    list, so each commit moved the committed offset by one or two records, and hundreds of
    handled records stayed uncommitted for minutes.
    """

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _new_offset(self, tp: TP) -> int | None:
        """Return the offset to commit for ``tp``, after removing repeated and committed offsets."""
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked:
            acked[:] = sorted({offset for offset in acked if committed is None or offset >= committed})
        return super()._new_offset(tp)

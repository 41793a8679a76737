"""Faust app whose flow control keeps buffered events and whose changelog buffer fits a batch."""

from __future__ import annotations

import logging

import faust
from faust.types import ProducerT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

logger = logging.getLogger(__name__)

# Unsent table changelog records after which Faust pauses the streams until the producer
# buffer drains (faust-streaming 0.15.3 uses 100 and logs a warning each time). The join
# changes one or two table keys for each event of a batch of up to JOIN_BATCH_SIZE, so
# the default paused the streams after nearly every full batch.
CHANGELOG_BUFFER_MAX = 5000


class KeepingFlowControl(FlowControlEvent):
    """Flow control that clears the stream queues only when it resumes from a suspension.

    Every Faust channel queue is cleared on each ``resume()`` (faust-streaming 0.15.3 creates
    them with ``clear_on_resume=True``). After a rebalance, Faust's table recovery resumes
    flow to read the changelogs, then resumes the stream partitions, seeks them to their
    committed offsets and calls ``resume()`` again. Events fetched while that seek runs are
    already in the queues, and Faust's read offset is past them, so the second clear drops
    them without a trace: they are never handled, never acknowledged and never fetched
    again. The committed offset then either stops at the first dropped event for good, or,
    on a partition without a committed offset yet, moves past the dropped events.

    Here ``resume()`` while flow is active changes nothing. The first ``resume()`` after a
    ``suspend()`` still clears the queues and drops the events of the revoked assignment.
    Those events are fetched again, because recovery seeks every partition back to its
    committed offset afterwards.
    """

    def resume(self) -> None:
        """Resume flow, clearing the queues only when flow was suspended."""
        if self.is_active():
            logger.debug("Flow control is already active, so the stream queues are kept")
            return

        super().resume()


class WorkerFaustApp(faust.App):
    """faust.App with KeepingFlowControl and a larger changelog buffer."""

    def _new_producer(self) -> ProducerT:
        producer = super()._new_producer()
        producer.buffer.max_messages = CHANGELOG_BUFFER_MAX
        return producer

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Flow control of the stream queues; see KeepingFlowControl."""
        return KeepingFlowControl(loop=self.loop)

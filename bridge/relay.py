"""Relay of deliveries from AMQP listener threads to Kafka, acking each one only after Kafka stored it."""

from __future__ import annotations

import asyncio
import logging
import time

from bridge.backoff import Backoff
from bridge.delivery import Delivery
from bridge.errors import KafkaSendError
from bridge.listener import AmqpListener
from bridge.producer import KafkaProducerService
from bridge.records import KEY_SELECTORS, build_record

logger = logging.getLogger(__name__)

#: Seconds between two warnings about failing sends; the ones in between are counted.
WARNING_INTERVAL = 5.0


class Relay:
    """Sends each delivery to Kafka on the asyncio loop, retrying until stored, then queues its ack."""

    def __init__(self, producer: KafkaProducerService, loop: asyncio.AbstractEventLoop, backoff: Backoff | None = None) -> None:
        self._producer = producer
        self._loop = loop
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_warning = 0.0
        self._suppressed = 0

    @property
    def in_flight(self) -> int:
        """Deliveries handed to the relay and not yet stored in Kafka."""
        return len(self._tasks)

    def submit(self, listener: AmqpListener, delivery: Delivery) -> None:
        """Schedule a delivery for sending; safe to call from a listener thread."""
        self._loop.call_soon_threadsafe(self._start, listener, delivery)

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the sends in flight; return how many are left."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass
        return self.in_flight

    def _start(self, listener: AmqpListener, delivery: Delivery) -> None:
        """Start the send task of one delivery (on the loop thread)."""
        task = self._loop.create_task(self._relay(listener, delivery))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task and log it if it failed."""
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("relay task failed; its delivery stays unacked", exc_info=task.exception())

    async def _relay(self, listener: AmqpListener, delivery: Delivery) -> None:
        """Send until Kafka stores the record, then queue the ack on the delivery's listener."""
        config = listener.config
        record = build_record(delivery, config.topic, config.root_url, KEY_SELECTORS[config.kind])

        # NOTE: a record Kafka can never accept (larger than the broker's message.max.bytes)
        # is retried forever and occupies one prefetch slot, because the bridge drops nothing.
        attempt = 0
        while True:
            try:
                await self._producer.send(record)
                break
            except KafkaSendError as error:
                if delivery.generation != listener.generation:
                    # The listener reconnected, so the broker redelivers this message anyway.
                    logger.info(
                        "dropping retry of delivery tag %d (exchange %s, routing key %s): its AMQP connection closed",
                        delivery.delivery_tag,
                        delivery.exchange,
                        delivery.routing_key,
                    )
                    return

                delay = self._backoff.delay(attempt)
                attempt += 1
                listener.stats.count_retried()
                self._warn_retry(delivery, error, attempt, delay)
                await asyncio.sleep(delay)

        listener.ack(delivery)

    def _warn_retry(self, delivery: Delivery, error: KafkaSendError, attempt: int, delay: float) -> None:
        """Log a failed send, at most once per ``WARNING_INTERVAL`` with a count of the ones left out."""
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL:
            self._suppressed += 1
            return

        logger.warning(
            "Kafka send failed for delivery tag %d (exchange %s, routing key %s), attempt %d: %s; "
            "retrying in %.1f s; %d similar failures since the last warning",
            delivery.delivery_tag,
            delivery.exchange,
            delivery.routing_key,
            attempt,
            error,
            delay,
            self._suppressed,
        )
        self._last_warning = now
        self._suppressed = 0

"""Idempotent aiokafka producer service whose ``send`` returns only once Kafka stored the record."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import codec
from aiokafka.errors import (
    IllegalStateError,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

from bridge.backoff import Backoff
from bridge.errors import KafkaSendError
from bridge.records import KafkaRecord

logger = logging.getLogger(__name__)

#: Seconds a producer stop may take before it is abandoned.
STOP_TIMEOUT = 10.0

#: Errors after which the idempotent producer's sequence state is unusable, so it is replaced.
_RESTART_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced, ProducerClosed, IllegalStateError)


def compression_type() -> str | None:
    """Return the best codec aiokafka can use here: lz4, then zstd, else None (no compression)."""
    if codec.has_lz4():
        return "lz4"
    if codec.has_zstd():
        return "zstd"
    return None


def producer_settings(bootstrap_servers: str) -> dict[str, Any]:
    """Return the AIOKafkaProducer arguments shared by the bridge and its benchmark baseline.

    Idempotence forces ``acks="all"``, and the broker drops the duplicates of the
    producer's own retries. ``linger_ms`` and ``max_batch_size`` let one prefetch
    window leave in a few requests.
    """
    return {
        "bootstrap_servers": bootstrap_servers,
        "client_id": "pulse-bridge",
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 10,
        "max_batch_size": 262144,
        "compression_type": compression_type(),
        "request_timeout_ms": 30000,
    }


class KafkaProducerService:
    """Owns one AIOKafkaProducer; replaces it after errors that break its sequence state."""

    def __init__(self, bootstrap_servers: str, send_timeout: float, max_in_flight: int, backoff: Backoff | None = None) -> None:
        self._settings = producer_settings(bootstrap_servers)
        self._send_timeout = send_timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._backoff = backoff or Backoff()
        self._producer: AIOKafkaProducer | None = None
        self._restart_lock = asyncio.Lock()

    async def start(self, stopping: asyncio.Event | None = None) -> None:
        """Start the producer, retrying with backoff while Kafka is unreachable."""
        attempt = 0
        while True:
            producer = AIOKafkaProducer(**self._settings)
            try:
                await producer.start()
            except KafkaError as error:
                await _stop_quietly(producer)
                delay = self._backoff.delay(attempt)
                attempt += 1
                logger.warning(
                    "cannot connect the Kafka producer to %s (%s: %s); retrying in %.1f s",
                    self._settings["bootstrap_servers"],
                    type(error).__name__,
                    error,
                    delay,
                )
                if await _wait_for_event(stopping, delay):
                    raise KafkaSendError(f"Kafka at {self._settings['bootstrap_servers']} is unreachable") from error
                continue

            self._producer = producer
            logger.info(
                "Kafka producer started on %s (idempotent, compression %s)",
                self._settings["bootstrap_servers"],
                self._settings["compression_type"] or "none",
            )
            return

    async def stop(self) -> None:
        """Flush and stop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await _stop_quietly(producer)
            logger.info("Kafka producer stopped")

    async def send(self, record: KafkaRecord) -> None:
        """Send one record and wait until Kafka acknowledged it to all in-sync replicas.

        Raises ``KafkaSendError`` after ``send_timeout`` seconds or on a Kafka error.
        With idempotence aiokafka never expires a batch, so the timeout is what
        bounds a send while the broker is down. A timed-out record may still be
        stored later, so a retry can write it twice.
        """
        producer = self._producer
        if producer is None:
            raise KafkaSendError("the Kafka producer is not running")

        async with self._slots:
            try:
                await asyncio.wait_for(self._send_and_wait(producer, record), self._send_timeout)
            except TimeoutError:
                raise KafkaSendError(f"Kafka did not confirm the record within {self._send_timeout:g} s") from None
            except _RESTART_ERRORS as error:
                await self._restart(producer, error)
                raise KafkaSendError(f"{type(error).__name__}: {error}") from error
            except KafkaError as error:
                raise KafkaSendError(f"{type(error).__name__}: {error}") from error

    @staticmethod
    async def _send_and_wait(producer: AIOKafkaProducer, record: KafkaRecord) -> None:
        """Queue the record in the producer, then wait for the broker's acknowledgement."""
        future = await producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers))
        await future

    async def _restart(self, failed: AIOKafkaProducer, error: BaseException) -> None:
        """Replace the producer once, however many sends saw the same failure."""
        async with self._restart_lock:
            if self._producer is not failed:
                return
            logger.warning("restarting the Kafka producer after %s: %s", type(error).__name__, error)
            self._producer = None
            await _stop_quietly(failed)
            await self.start()


async def _wait_for_event(event: asyncio.Event | None, timeout: float) -> bool:
    """Sleep up to ``timeout`` seconds; return True as soon as ``event`` is set."""
    if event is None:
        await asyncio.sleep(timeout)
        return False
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    """Stop a producer that may be half started, giving up after ``STOP_TIMEOUT`` seconds.

    ``AIOKafkaProducer.stop`` first waits for every queued batch, which never ends
    while the broker is down. Records cut off here were never acked on AMQP.
    """
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)
    except TimeoutError:
        logger.warning("Kafka producer did not stop within %.0f s; its unsent records were not acked", STOP_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - stopping a broken producer is best effort.
        logger.debug("stopping the Kafka producer failed: %s", error)

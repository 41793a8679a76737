"""Paced publishing to RabbitMQ that survives a broker restart by publishing the unconfirmed chunk again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import amqp
from kombu.exceptions import KombuError

from bridge.publish import OutgoingMessage, publish_messages
from bridge.urls import PulseUrl

logger = logging.getLogger(__name__)

# Messages per publish call; a failed call publishes its whole chunk again.
CHUNK_SIZE = 100

# Seconds between two attempts while the broker is unreachable.
RETRY_DELAY = 1.0

PUBLISH_ERRORS = (OSError, amqp.exceptions.AMQPError, KombuError, TimeoutError)


@dataclass
class PublishProgress:
    """Counts of a publisher, updated while it runs."""

    confirmed: int = 0
    failed_attempts: int = 0
    republished: int = 0
    finished: bool = False
    error: str | None = None


class PacedPublisher:
    """Publishes messages in chunks at about ``rate`` messages per second in a background thread."""

    def __init__(self, url: PulseUrl, messages: Sequence[OutgoingMessage], rate: float, deadline: float) -> None:
        self.url = url
        self.messages = messages
        self.rate = rate
        self.deadline = deadline
        self.progress = PublishProgress()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-publisher", daemon=True)

    def start(self) -> None:
        """Start publishing in the background."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the publisher to finish."""
        self._thread.join(timeout)

    def stop(self) -> None:
        """Ask the publisher to stop after its current chunk and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def share_done(self) -> float:
        """Return the confirmed share of the messages, from 0 to 1."""
        return self.progress.confirmed / max(1, len(self.messages))

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for start in range(0, len(self.messages), CHUNK_SIZE):
                chunk = self.messages[start : start + CHUNK_SIZE]
                self._publish_chunk(chunk)
                self.progress.confirmed += len(chunk)
                if self._stop.is_set():
                    return
                # Pacing: the chunk's end may not be confirmed before its scheduled time.
                scheduled = started + self.progress.confirmed / self.rate
                self._stop.wait(max(0.0, scheduled - time.monotonic()))
        except Exception as error:  # noqa: BLE001 - reported through progress.error to the caller
            logger.error("Publishing stopped after %d messages: %s", self.progress.confirmed, error)
            self.progress.error = str(error)
        finally:
            self.progress.finished = True

    def _publish_chunk(self, chunk: Sequence[OutgoingMessage]) -> None:
        """Publish one chunk until the broker confirmed all of it, or raise after the deadline."""
        attempt = 0
        while True:
            attempt += 1
            try:
                result = publish_messages(self.url, chunk)
            except PUBLISH_ERRORS as error:
                self._retry_or_raise(attempt, error)
                continue

            if result.nacked or result.returned:
                raise RuntimeError(f"the broker rejected {result.nacked} and returned {result.returned} messages")
            if attempt > 1:
                self.progress.republished += len(chunk)
            return

    def _retry_or_raise(self, attempt: int, error: Exception) -> None:
        self.progress.failed_attempts += 1
        if time.monotonic() > self.deadline or self._stop.is_set():
            raise TimeoutError(f"publishing failed {attempt} times, last error: {error}") from error
        if attempt == 1 or attempt % 10 == 0:
            logger.warning("Publishing a chunk failed (attempt %d), retrying in %.0f s: %s", attempt, RETRY_DELAY, error)
        time.sleep(RETRY_DELAY)


def publish_now(url: PulseUrl, messages: Sequence[OutgoingMessage], timeout: float) -> PublishProgress:
    """Publish ``messages`` as fast as the broker confirms them and return the counts."""
    publisher = PacedPublisher(url, messages, rate=float("inf"), deadline=time.monotonic() + timeout)
    publisher.start()
    publisher.join()
    return publisher.progress



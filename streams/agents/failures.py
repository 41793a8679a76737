"""Per-event failure policy: bad events go to the dead-letter topic, infrastructure faults block."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from streams.agents.faults import is_infrastructure_error
from streams.agents.ownership import DroppedGenerations, OwnershipLost, owning, sleep_while_owned
from streams.agents.retry import Backoff
from streams.agents.source import SourceEvent
from streams.errors import RejectedMessage
from streams.sinks.deadletter import DeadLetterSink

logger = logging.getLogger(__name__)

EventHandler = Callable[[SourceEvent], Awaitable[None]]


async def handle_event(
    source: SourceEvent,
    stage: str,
    handler: EventHandler,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
) -> bool:
    """Run ``handler`` on one event; return True when it succeeded, False when dead-lettered.

    A RejectedMessage or any other exception (a poison message) sends the event to the
    dead-letter topic. An infrastructure fault (see ``faults.is_infrastructure_error``)
    that escapes the handler reruns the whole handler after a backoff, so handlers must be
    idempotent. Only cancellation ends the call without a result, which leaves the event
    unacknowledged.
    """
    attempt = 0
    while True:
        try:
            await handler(source)
            return True
        except asyncio.CancelledError:
            raise
        except RejectedMessage as error:
            logger.info(
                "Rejected %s key=%s in %s: %s", source.position, source.key_text, stage, error
            )
            await dead_letter_with_retry(source, stage, error, dead_letters, backoff)
            return False
        except Exception as error:
            if not is_infrastructure_error(error):
                logger.exception(
                    "Poison message %s key=%s in %s: %r",
                    source.position,
                    source.key_text,
                    stage,
                    error,
                )
                await dead_letter_with_retry(source, stage, error, dead_letters, backoff)
                return False

            attempt += 1
            delay = backoff.delay(attempt)
            logger.warning(
                "Handling %s key=%s in %s failed (attempt %d), retrying in %.1f s: %r",
                source.position,
                source.key_text,
                stage,
                attempt,
                delay,
                error,
            )
            await sleep_while_owned(delay, f"{stage} of {source.position}")


async def dead_letter_with_retry(
    source: SourceEvent,
    stage: str,
    error: BaseException,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
) -> None:
    """Send ``source`` to the dead-letter topic, retrying until the broker stored it."""
    # Kafka faults are retried inside the publisher. Anything else escaping here is a bug or
    # a misconfiguration; the event must still not be skipped, so it is retried as well.
    attempt = 0
    while True:
        try:
            await dead_letters.send_error(source, stage, error)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            attempt += 1
            delay = backoff.delay(attempt)
            logger.exception(
                "Sending %s key=%s to the dead-letter topic failed (attempt %d), retrying in %.1f s",
                source.position,
                source.key_text,
                attempt,
                delay,
            )
            await sleep_while_owned(delay, f"dead-lettering {source.position}")


async def reject_event(
    source: SourceEvent,
    stage: str,
    error: BaseException,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
) -> None:
    """Log why ``source`` failed in ``stage`` and dead-letter it with that error.

    A RejectedMessage is bad input and logs one line. Any other error is a poison message and
    logs its traceback.
    """
    if isinstance(error, RejectedMessage):
        logger.info("Rejected %s key=%s in %s: %s", source.position, source.key_text, stage, error)
    else:
        logger.error(
            "Poison message %s key=%s in %s: %r",
            source.position,
            source.key_text,
            stage,
            error,
            exc_info=error,
        )
    await dead_letter_with_retry(source, stage, error, dead_letters, backoff)


async def consume(
    stream: Any,
    stage: str,
    handler: EventHandler,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
) -> AsyncIterable[SourceEvent]:
    """Handle each event of a Faust stream, acknowledging it only once it is fully handled.

    Faust acknowledges an event when the agent's ``async for`` advances, and also when the
    agent body raises or is cancelled, which would commit the offset of unfinished work. The
    stream is therefore switched to manual acknowledgement (``noack``), and the event is
    acknowledged after its writes and sends were confirmed or it was dead-lettered. An
    event interrupted by a stop stays unacknowledged and is consumed again after a restart.

    NOTE: Faust's graceful stop waits for every unacknowledged event, so a worker blocked on
    an unreachable database or broker only stops once it is reachable again or on SIGKILL,
    which loses nothing because the event's offset is not committed.
    An event whose retries are still running when a rebalance starts is dropped without
    acknowledging it, and so is every later event of the same consumer generation (see
    ``consume_batches``). Yields each handled event, which lets Faust's test wrapper
    observe progress.
    """
    manual = stream.noack()
    dropped = DroppedGenerations()
    async for event in manual.events():
        if not dropped.filter([event], stage):
            continue

        try:
            with owning(manual.app, [event]):
                # Faust sets the event as the task's current event, which table writes need.
                source = await read_source_event(event, stage, dead_letters, backoff)
                if source is not None:
                    await handle_event(source, stage, handler, dead_letters, backoff)
        except OwnershipLost as lost:
            dropped.add([event], stage, lost)
            continue

        await manual.ack(event)
        yield source


async def read_source_event(
    event: Any, stage: str, dead_letters: DeadLetterSink, backoff: Backoff
) -> SourceEvent | None:
    """Return the source event of a Faust event, or dead-letter an event that cannot be read."""
    try:
        return SourceEvent.from_faust(event)
    except Exception as error:
        message = event.message
        logger.exception(
            "Reading event %s[%s]@%s in %s failed: %r",
            message.topic,
            message.partition,
            message.offset,
            stage,
            error,
        )
        source = SourceEvent(message.topic, message.partition, message.offset, None, None)
        await dead_letter_with_retry(source, stage, error, dead_letters, backoff)
        return None

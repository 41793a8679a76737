"""Batch consumption: take events in batches, handle each batch, then acknowledge it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import Any

from streams.agents.failures import dead_letter_with_retry, read_source_event
from streams.agents.faults import is_infrastructure_error
from streams.agents.join_plan import BatchItem
from streams.agents.ownership import DroppedGenerations, OwnershipLost, owning, sleep_while_owned
from streams.agents.retry import Backoff
from streams.sinks.deadletter import DeadLetterSink

logger = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[BatchItem]], Awaitable[None]]


async def consume_batches(
    stream: Any,
    stage: str,
    handler: BatchHandler,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
    *,
    size: int,
    wait: float,
) -> AsyncIterable[int]:
    """Handle a Faust stream in batches of up to ``size`` events, waiting at most ``wait`` s.

    Faust's ``noack_take`` (faust-streaming 0.15.3) buffers events without acknowledging
    them. Every event of a batch is acknowledged, in offset order, only after ``handler``
    returned, so no offset is committed for unfinished work. An infrastructure fault (see
    ``faults.is_infrastructure_error``) reruns the whole batch after a backoff. Any other exception is a bug or a poison event: the batch
    is then handled one event at a time, and an event that still fails is dead-lettered.

    A batch whose retries are still running when a rebalance starts is dropped without
    acknowledging it (see ``streams.agents.ownership``), and so is every later event of
    the same consumer generation: acknowledging a later event would let Faust commit
    past the dropped ones. The partition's owner after the rebalance reads them again.
    Yields the size of each handled batch.
    """
    manual = stream.noack()
    dropped = DroppedGenerations()
    async for taken in manual.noack_take(size, within=wait):
        events = dropped.filter(taken, stage)
        if not events:
            continue

        try:
            with owning(manual.app, events):
                items = [await _read_event(event, stage, dead_letters, backoff) for event in events]
                batch = [item for item in items if item is not None]
                await handle_batch(batch, stage, handler, dead_letters, backoff)
        except OwnershipLost as lost:
            dropped.add(events, stage, lost)
            continue

        for event in events:
            await manual.ack(event)
        yield len(events)


async def handle_batch(
    batch: Sequence[BatchItem],
    stage: str,
    handler: BatchHandler,
    dead_letters: DeadLetterSink,
    backoff: Backoff,
) -> None:
    """Run ``handler`` on ``batch`` until it succeeds, falling back to single events on bugs."""
    if not batch:
        return

    try:
        await _retrying(batch, stage, handler, backoff)
        return
    except asyncio.CancelledError:
        raise
    except Exception as error:
        if len(batch) == 1:
            source = batch[0].source
            logger.exception(
                "Poison message %s key=%s in %s: %r", source.position, source.key_text, stage, error
            )
            await dead_letter_with_retry(source, stage, error, dead_letters, backoff)
            return
        logger.exception(
            "Handling a batch of %d events in %s failed, handling them one by one: %r",
            len(batch),
            stage,
            error,
        )

    for item in batch:
        await handle_batch([item], stage, handler, dead_letters, backoff)


async def _retrying(
    batch: Sequence[BatchItem], stage: str, handler: BatchHandler, backoff: Backoff
) -> None:
    attempt = 0
    while True:
        try:
            await handler(batch)
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_infrastructure_error(error):
                raise

            attempt += 1
            delay = backoff.delay(attempt)
            first = batch[0].source
            logger.warning(
                "Handling a batch of %d events from %s key=%s in %s failed (attempt %d), "
                "retrying in %.1f s: %r",
                len(batch),
                first.position,
                first.key_text,
                stage,
                attempt,
                delay,
                error,
            )
            await sleep_while_owned(delay, f"{stage} batch from {first.position}")


async def _read_event(
    event: Any, stage: str, dead_letters: DeadLetterSink, backoff: Backoff
) -> BatchItem | None:
    """Return the batch item of a Faust event, or dead-letter an event that cannot be read."""
    source = await read_source_event(event, stage, dead_letters, backoff)
    return None if source is None else BatchItem(source, event)

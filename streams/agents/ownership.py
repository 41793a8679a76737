"""Ownership of the events an agent handles, so that retries end once a rebalance starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# Maximum sleep between two ownership checks while a retry waits, in seconds.
CHECK_INTERVAL = 0.5


class OwnershipLost(BaseException):
    """A rebalance started after the events being handled were fetched.

    Their partitions may now belong to another worker, which reads them again from the
    committed offset. The agent drops them without acknowledging them, so the rebalance
    does not wait for a retry that may never succeed. Like ``asyncio.CancelledError`` it is
    a BaseException, so the handlers that dead-letter an event on any Exception let it
    through.
    """


@dataclass(frozen=True)
class Ownership:
    """The consumer generations of the events being handled, and the app that tracks them."""

    app: Any
    generations: frozenset[int]

    def is_lost(self) -> bool:
        """Tell whether a rebalance started since the events were fetched."""
        if not self.app.flow_control.is_active():
            return True
        current = self.app.consumer_generation_id
        return any(generation != current for generation in self.generations)


_current: ContextVar[Ownership | None] = ContextVar("pulse_ingest_ownership", default=None)


@contextmanager
def owning(app: Any, events: Iterable[Any]) -> Iterator[Ownership]:
    """Make the generations of the Faust ``events`` the current ownership inside the block.

    Tasks started inside the block, for example by ``asyncio.gather``, copy it as well.
    """
    ownership = Ownership(app, frozenset(event.message.generation_id for event in events))
    token = _current.set(ownership)
    try:
        yield ownership
    finally:
        _current.reset(token)


def check_owned(context: str) -> None:
    """Raise OwnershipLost when a rebalance started since the current events were fetched.

    Outside ``owning`` (start-up, timers, unit tests of single stages) nothing is checked.
    """
    ownership = _current.get()
    if ownership is not None and ownership.is_lost():
        raise OwnershipLost(context)


async def sleep_while_owned(delay: float, context: str) -> None:
    """Sleep ``delay`` seconds before a retry, raising OwnershipLost as soon as ownership ends."""
    check_owned(context)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, CHECK_INTERVAL))
        check_owned(context)


class DroppedGenerations:
    """The consumer generations whose events an agent drops after it gave up a batch.

    Once one event of a generation is dropped unacknowledged, no later event of that
    generation may be acknowledged either. Faust discards the committed offsets of the
    revoked partitions when a rebalance starts, and it would then commit past the dropped
    event as soon as a later one is acknowledged.
    """

    def __init__(self) -> None:
        self._highest: int | None = None

    def add(self, events: Sequence[Any], stage: str, lost: OwnershipLost) -> None:
        """Record that ``events`` were dropped because ``lost`` ended their retries."""
        highest = max(event.message.generation_id for event in events)
        if self._highest is None or highest > self._highest:
            self._highest = highest

        first = events[0].message
        logger.warning(
            "Dropped %d events from %s[%s]@%s in %s without acknowledging them, because a "
            "rebalance started while they were retried (%s); the partition's owner reads them again",
            len(events),
            first.topic,
            first.partition,
            first.offset,
            stage,
            lost,
        )

    def filter(self, events: Sequence[Any], stage: str) -> list[Any]:
        """Return the events of ``events`` that are newer than every dropped generation."""
        if self._highest is None:
            return list(events)

        current: list[Any] = []
        for event in events:
            message = event.message
            if message.generation_id > self._highest:
                current.append(event)
                continue

            logger.debug(
                "Dropped %s[%s]@%s in %s: generation %s had a dropped batch",
                message.topic,
                message.partition,
                message.offset,
                stage,
                message.generation_id,
            )
        return current

"""Retries of a batch or an event end unacknowledged once a rebalance starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent

from streams.agents.batching import consume_batches
from streams.agents.failures import consume
from streams.agents.ownership import OwnershipLost, owning, sleep_while_owned
from streams.agents.retry import Backoff, retry_until_done
from streams.errors import RetriableError

QUICK = Backoff(initial=0.01, maximum=0.01)


class FakeApp:
    """The two attributes of a Faust app that ownership reads."""

    def __init__(self) -> None:
        self.flow_control = FlowControlEvent(initially_suspended=False)
        self.consumer_generation_id = 1


def event(offset: int, generation: int = 1) -> Any:
    message = SimpleNamespace(
        topic="pulse-jobs-by-revision",
        partition=5,
        offset=offset,
        generation_id=generation,
        headers=[],
        timestamp=None,
    )
    return SimpleNamespace(message=message, key=b"autoland/abc", value=b"{}")


class FakeStream:
    """A Faust stream that yields fixed batches and records acknowledgements.

    Events of a newer generation arrive only after the rebalance ended, as in Faust, so the
    stream moves the app to that generation and resumes flow before it yields them.
    """

    def __init__(self, app: FakeApp, batches: Sequence[list[Any]]) -> None:
        self.app = app
        self._batches = batches
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def noack_take(self, size: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self._batches:
            self._end_rebalance(batch)
            yield batch

    async def events(self) -> AsyncIterator[Any]:
        for batch in self._batches:
            self._end_rebalance(batch)
            for item in batch:
                yield item

    def _end_rebalance(self, batch: list[Any]) -> None:
        generation = batch[0].message.generation_id
        if generation > self.app.consumer_generation_id:
            self.app.consumer_generation_id = generation
            self.app.flow_control.resume()

    async def ack(self, item: Any) -> None:
        self.acked.append(item.message.offset)


async def test_sleep_ends_when_flow_suspended():
    app = FakeApp()

    with owning(app, [event(1)]):
        app.flow_control.suspend()
        with pytest.raises(OwnershipLost):
            await sleep_while_owned(5.0, "send of pulse-jobs-by-revision[5]@1")


async def test_sleep_ends_when_generation_changes():
    app = FakeApp()

    with owning(app, [event(1)]):
        app.consumer_generation_id = 2
        with pytest.raises(OwnershipLost):
            await sleep_while_owned(5.0, "send of pulse-jobs-by-revision[5]@1")


async def test_retry_loop_outside_agent_keeps_retrying():
    calls = []

    async def operation() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("database unreachable")
        return "done"

    result = await retry_until_done(
        operation, is_retriable=lambda error: True, backoff=QUICK, name="write", context="test"
    )

    assert result == "done"
    assert len(calls) == 3


async def test_batch_retried_into_rebalance_is_dropped(dead_letters, dead_letter_publisher):
    app = FakeApp()
    stream = FakeStream(app, [[event(10), event(11)], [event(12)], [event(10, 2), event(11, 2)]])
    handled: list[list[int]] = []

    async def handler(items: Sequence[Any]) -> None:
        offsets = [item.source.offset for item in items]
        if app.consumer_generation_id == 1:
            # The database is down, and a rebalance starts during the retries.
            app.flow_control.suspend()
            raise RetriableError("database unreachable")
        handled.append(offsets)

    sizes = [
        size
        async for size in consume_batches(
            stream, "join", handler, dead_letters, QUICK, size=10, wait=0.01
        )
    ]

    # Offset 12 is of the generation whose batch was dropped, so it is dropped unhandled.
    assert handled == [[10, 11]]
    assert stream.acked == [10, 11]
    assert sizes == [2]
    assert dead_letter_publisher.values() == []


async def test_event_retried_into_rebalance_is_dropped(dead_letters, dead_letter_publisher):
    app = FakeApp()
    stream = FakeStream(app, [[event(20), event(21)], [event(20, 2)]])
    handled: list[int] = []

    async def handler(source: Any) -> None:
        if app.consumer_generation_id == 1:
            app.flow_control.suspend()
            raise RetriableError("broker unreachable")
        handled.append(source.offset)

    yielded = [source.offset async for source in consume(stream, "job-ingest", handler, dead_letters, QUICK)]

    assert yielded == [20]
    assert handled == [20]
    assert stream.acked == [20]
    assert dead_letter_publisher.values() == []


async def test_batch_without_rebalance_is_retried_until_written(dead_letters):
    app = FakeApp()
    stream = FakeStream(app, [[event(30)]])
    attempts = []

    async def handler(items: Sequence[Any]) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetriableError("database unreachable")

    sizes = [
        size
        async for size in consume_batches(
            stream, "join", handler, dead_letters, QUICK, size=10, wait=0.01
        )
    ]

    assert sizes == [1]
    assert len(attempts) == 3
    assert stream.acked == [30]

"""Stream queues of the worker app: kept on a second resume, stale events refused."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from streams.agents.flow_control import WorkerFaustApp


@pytest.fixture
async def app() -> WorkerFaustApp:
    worker_app = WorkerFaustApp("unit-flow-control", store="memory://", autodiscover=False)
    worker_app.loop = asyncio.get_running_loop()
    worker_app.finalize()
    worker_app.consumer_generation_id = 2
    worker_app.flow_control.resume()
    return worker_app


def event(offset: int, generation: int = 2, topic: str = "pulse-jobs-by-revision") -> Any:
    message = SimpleNamespace(topic=topic, partition=3, offset=offset, generation_id=generation)
    return SimpleNamespace(message=message)


def contents(queue: Any) -> list[int]:
    return [item.message.offset for item in list(queue._queue)]


async def test_queue_keeps_current_events(app):
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)

    queue.put_nowait(event(1))
    queue.force_put_nowait(event(2))
    await queue.put(event(3))

    assert contents(queue) == [1, 2, 3]


async def test_queue_drops_events_while_suspended(app):
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait(event(1))

    app.flow_control.suspend()
    app.flow_control.clear()
    queue.put_nowait(event(2))
    queue.force_put_nowait(event(3))

    assert contents(queue) == []


async def test_queue_drops_events_of_earlier_generation(app):
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)

    queue.force_put_nowait(event(1, generation=1))
    queue.force_put_nowait(event(2, generation=2))

    assert contents(queue) == [2]


async def test_waiting_put_dropped_after_rebalance_starts(app):
    queue = app.FlowControlQueue(maxsize=1, clear_on_resume=True)
    queue.put_nowait(event(1))
    waiting = asyncio.ensure_future(queue.put(event(2)))
    await asyncio.sleep(0)

    # The stream takes the head event, which wakes the waiting put, and the rebalance
    # suspends flow before that put runs again.
    queue.get_nowait()
    app.flow_control.suspend()
    app.flow_control.clear()
    await waiting

    assert contents(queue) == []


async def test_queue_keeps_changelog_events_while_suspended(app):
    app.tables._changelogs["unit-flow-control-pushes-changelog"] = object()
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)

    app.flow_control.suspend()
    queue.put_nowait(event(7, generation=1, topic="unit-flow-control-pushes-changelog"))

    assert contents(queue) == [7]


async def test_second_resume_keeps_queue(app):
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait(event(1))

    app.flow_control.resume()

    assert contents(queue) == [1]


async def test_resume_after_suspend_clears_queue(app):
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait(event(1))

    app.flow_control.suspend()
    app.flow_control.resume()

    assert contents(queue) == []

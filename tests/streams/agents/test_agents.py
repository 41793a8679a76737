"""The Faust agents in Faust's test context: acknowledgement and the failure policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faust.types import TP

from streams.agents.publish import TopicPublisher
from streams.app import WorkerApp, create_app
from streams.config import WorkerSettings
from streams.errors import RetriableError
from streams.registry.repositories import RepositoryRegistry
from tests.streams.conftest import (
    FakeDatabase,
    hg_push_message,
    job_guid,
    job_record,
    pulse_job_message,
    push_record,
    revision_for,
)

HG_EXCHANGE = "exchange/hgpushes/v1"


class BlockingDatabase(FakeDatabase):
    """Database whose push writes fail with RetriableError until ``available`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.available = asyncio.Event()
        self.attempts = 0

    async def write_pushes(self, records: Any) -> None:
        # The real sink retries inside write_with_retry. Here the error reaches the agent's
        # own retry loop, which is the stricter case.
        self.attempts += 1
        if not self.available.is_set():
            raise RetriableError("database unavailable")
        await super().write_pushes(records)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """Capture every record the app publishes instead of sending it to Kafka."""
    records: list[tuple[str, Any, Any]] = []

    async def publish(self, key, value, *, context, headers=None, partition=None):
        records.append((self.topic_name, key.decode() if isinstance(key, bytes) else key, value))

    async def publish_many(self, outgoing):
        for record in outgoing:
            await publish(self, record.key, record.value, context=record.context)
        return [None] * len(outgoing)

    monkeypatch.setattr(TopicPublisher, "publish", publish)
    monkeypatch.setattr(TopicPublisher, "publish_many", publish_many)
    return records


async def build_app(database: FakeDatabase) -> WorkerApp:
    settings = WorkerSettings.from_env(
        {"STORE": "memory://", "TOPIC_PREFIX": "unit-", "RETRY_INITIAL": "0.01", "RETRY_MAX": "0.01"}
    )
    worker = create_app(settings, database=database, registry=RepositoryRegistry.load())
    worker.app.loop = asyncio.get_running_loop()
    worker.app.finalize()
    worker.app.flow_control.resume()
    return worker


@pytest.fixture
async def worker(sent) -> AsyncIterator[WorkerApp]:
    yield await build_app(FakeDatabase())


def on_topic(wrapper: Any, topic: str) -> None:
    """Make the test wrapper's events look as if they came from ``topic``.

    The wrapper names every event of a multi-topic agent `<internal>`, and the join agent
    dispatches by topic.
    """
    build = wrapper.to_message

    def to_message(*args: Any, **kwargs: Any) -> Any:
        message = build(*args, **kwargs)
        message.topic = topic
        message.tp = TP(topic, message.partition)
        return message

    wrapper.to_message = to_message


def topic_values(sent, topic: str) -> list[Any]:
    return [value for name, _, value in sent if name == topic]


async def test_poison_push_then_valid_push(worker, sent):
    names = worker.settings.topics
    revision = revision_for("agent-push")
    headers = {"pulse.exchange": HG_EXCHANGE.encode()}

    async with worker.app.agents["push-ingest"].test_context() as agent:
        bad = await agent.put(b"not json", key=b"autoland", headers=headers)
        good = await agent.put(
            json.dumps(hg_push_message(revision)).encode(), key=b"autoland", headers=headers
        )

    dead = topic_values(sent, names.dead_letter)
    assert [record["reason"] for record in dead] == ["not-json"]
    assert dead[0]["source"]["offset"] == bad.message.offset
    assert [record["revision"] for record in topic_values(sent, names.pushes)] == [revision]
    assert bad.message.acked is True
    assert good.message.acked is True


async def test_join_accepts_parked_job_on_push(sent):
    database = FakeDatabase()
    worker = await build_app(database)
    names = worker.settings.topics
    revision = revision_for("agent-join")
    key = f"autoland/{revision}".encode()

    async with worker.app.agents["join"].test_context() as agent:
        on_topic(agent, names.jobs)
        job = await agent.put(json.dumps(job_record(job_guid(1), revision)).encode(), key=key)
        # The join agent handles events in batches, after put() returned.
        while not job.message.acked:
            await asyncio.sleep(0.01)
        parked = dict(worker.tables.parked)
        on_topic(agent, names.pushes)
        push = await agent.put(json.dumps(push_record(revision)).encode(), key=key)
        while not push.message.acked:
            await asyncio.sleep(0.01)

    assert list(parked) == [key.decode()]
    assert [r["job"]["job_guid"] for r in topic_values(sent, names.accepted_jobs)] == [job_guid(1)]
    assert key.decode() not in worker.tables.parked
    assert database.stored[job_guid(1)].state == "completed"


async def test_event_is_not_acked_while_database_is_down(sent):
    database = BlockingDatabase()
    worker = await build_app(database)
    names = worker.settings.topics
    revision = revision_for("agent-blocked")

    async with worker.app.agents["join"].test_context() as agent:
        on_topic(agent, names.pushes)
        event = await agent.put(
            json.dumps(push_record(revision)).encode(),
            key=f"autoland/{revision}".encode(),
            wait=False,
        )
        while database.attempts < 3:
            await asyncio.sleep(0.01)

        acked_while_down = event.message.acked
        database.available.set()
        while not event.message.acked:
            await asyncio.sleep(0.01)

    assert acked_while_down is False
    assert [record["revision"] for record in database.pushes] == [revision]
    assert topic_values(sent, names.dead_letter) == []


async def test_job_batch_with_bad_event(worker, sent):
    names = worker.settings.topics
    revision = revision_for("agent-job-batch")
    bodies = [
        json.dumps(pulse_job_message(job_guid(0), revision, "completed")).encode(),
        b"not json",
        json.dumps(pulse_job_message(job_guid(2), revision, "completed")).encode(),
    ]

    # The test context has no consumer metadata, so the join re-keys every raw job.
    async with worker.app.agents["join"].test_context() as agent:
        on_topic(agent, names.raw_jobs)
        events = [await agent.put(body, key=b"task", wait=False) for body in bodies]
        while not all(event.message.acked for event in events):
            await asyncio.sleep(0.01)

    jobs = topic_values(sent, names.jobs)
    assert [record["job"]["job_guid"] for record in jobs] == [job_guid(0), job_guid(2)]
    dead = topic_values(sent, names.dead_letter)
    assert [record["reason"] for record in dead] == ["not-json"]
    assert dead[0]["source"]["offset"] == events[1].message.offset


async def test_job_not_acked_before_delivery(worker, monkeypatch):
    delivered = asyncio.Event()
    calls = 0

    async def blocked_publish_many(self, outgoing):
        nonlocal calls
        calls += 1
        await delivered.wait()
        return [None] * len(outgoing)

    monkeypatch.setattr(TopicPublisher, "publish_many", blocked_publish_many)
    body = json.dumps(pulse_job_message(job_guid(1), revision_for("agent-job-ack"))).encode()

    async with worker.app.agents["join"].test_context() as agent:
        on_topic(agent, worker.settings.topics.raw_jobs)
        event = await agent.put(body, key=b"task", wait=False)
        while calls == 0:
            await asyncio.sleep(0.01)

        acked_before_delivery = event.message.acked
        delivered.set()
        while not event.message.acked:
            await asyncio.sleep(0.01)

    assert acked_before_delivery is False
    assert calls == 1

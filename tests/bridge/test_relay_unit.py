"""Tests of the relay's ack rule with a fake producer and a fake listener."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.backoff import Backoff
from bridge.config import ListenerConfig
from bridge.delivery import Delivery
from bridge.errors import KafkaSendError
from bridge.metrics import ListenerStats
from bridge.records import KafkaRecord
from bridge.relay import Relay
from bridge.urls import parse_pulse_url

MakeDelivery = Callable[..., Delivery]


@dataclass
class FakeProducer:
    """Fails the first ``failures`` sends, then stores every record."""

    failures: int = 0
    stored: list[KafkaRecord] = field(default_factory=list)
    attempts: int = 0

    async def send(self, record: KafkaRecord) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise KafkaSendError("broker unavailable")
        self.stored.append(record)


@dataclass
class FakeListener:
    """Records acks; ``generation`` is the current AMQP connection number."""

    config: ListenerConfig
    generation: int = 1
    acked: list[Delivery] = field(default_factory=list)
    stats: ListenerStats = field(default_factory=lambda: ListenerStats(queue="q"))

    def ack(self, delivery: Delivery) -> None:
        self.acked.append(delivery)


def listener() -> FakeListener:
    config = ListenerConfig(
        kind="jobs",
        queue="queue/u/jobs",
        topic="pulse-raw-jobs",
        url=parse_pulse_url("amqp://u:p@127.0.0.1/"),
        root_url="https://tc",
        bindings=(),
        auto_delete=False,
    )
    return FakeListener(config)


async def relay_one(producer: FakeProducer, target: FakeListener, delivery: Delivery) -> Relay:
    relay = Relay(producer, asyncio.get_running_loop(), Backoff(initial=0.001, maximum=0.001))  # type: ignore[arg-type]
    relay.submit(target, delivery)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await relay.drain(timeout=10)
    return relay


async def test_relay_acks_after_store(make_delivery: MakeDelivery) -> None:
    producer, target, delivery = FakeProducer(), listener(), make_delivery()

    await relay_one(producer, target, delivery)

    assert [record.value for record in producer.stored] == [delivery.body]
    assert target.acked == [delivery]


async def test_relay_retries_until_stored(make_delivery: MakeDelivery) -> None:
    producer, target, delivery = FakeProducer(failures=3), listener(), make_delivery()

    await relay_one(producer, target, delivery)

    assert producer.attempts == 4
    assert target.stats.retried == 3
    assert target.acked == [delivery]


async def test_relay_never_acks_unstored(make_delivery: MakeDelivery) -> None:
    producer, target = FakeProducer(failures=10**9), listener()
    relay = Relay(producer, asyncio.get_running_loop(), Backoff(initial=0.001, maximum=0.001))  # type: ignore[arg-type]

    relay.submit(target, make_delivery())  # type: ignore[arg-type]
    await asyncio.sleep(0)
    left = await relay.drain(timeout=0.2)

    assert left == 1
    assert target.acked == []
    for task in list(relay._tasks):
        task.cancel()


async def test_relay_drops_retry_of_old_connection(make_delivery: MakeDelivery) -> None:
    producer, target = FakeProducer(failures=1), listener()
    target.generation = 2

    await relay_one(producer, target, make_delivery(generation=1))

    assert target.acked == []
    assert producer.stored == []

"""TopicPublisher: awaits delivery, retries Kafka faults, rejects records that are too large."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from streams.agents.publish import TopicPublisher, is_retriable_send_error
from streams.agents.retry import Backoff
from streams.errors import RejectedMessage, RetriableError

NO_WAIT = Backoff(initial=0.0, maximum=0.0)


class FakeTopic:
    """Stands in for a Faust topic: ``send`` returns a delivery future, or fails first."""

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.delivered = []

    def get_topic_name(self):
        return "out"

    async def send(self, *, key, value, headers, partition, force):
        assert force is True
        future = asyncio.get_running_loop().create_future()
        if self.failures:
            future.set_exception(self.failures.pop(0))
        else:
            self.delivered.append((key, value, headers, partition))
            future.set_result("metadata")
        return future


async def test_publish_sends_json_and_headers():
    topic = FakeTopic()

    await TopicPublisher(topic, NO_WAIT).publish(
        "autoland/abc", {"a": 1}, context="t[0]@1", headers={"pulse.exchange": "x"}
    )

    key, value, headers, partition = topic.delivered[0]
    assert key == b"autoland/abc"
    assert json.loads(value) == {"a": 1}
    assert headers == [("pulse.exchange", b"x")]
    assert partition is None


async def test_publish_retries_delivery_failures():
    topic = FakeTopic([KafkaConnectionError(), ProducerSendError("broker down")])

    await TopicPublisher(topic, NO_WAIT).publish(b"k", b"raw", context="t[0]@1", partition=3)

    assert topic.delivered == [(b"k", b"raw", None, 3)]


async def test_publish_rejects_oversized_record():
    topic = FakeTopic([MessageSizeTooLargeError()])

    with pytest.raises(RejectedMessage) as raised:
        await TopicPublisher(topic, NO_WAIT).publish(b"k", b"x" * 10, context="t[0]@1")

    assert raised.value.reason.value == "too-large"


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (KafkaConnectionError(), True),
        (asyncio.TimeoutError(), True),
        (MessageSizeTooLargeError(), False),
        (ValueError("bug"), False),
        (RetriableError("db"), False),
    ],
)
def test_send_error_classes(error, retriable):
    assert is_retriable_send_error(error) is retriable

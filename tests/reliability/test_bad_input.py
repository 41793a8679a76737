"""Ten thousand bad bodies interleaved with valid jobs and pushes, through the real bridge and worker.

For speed, most messages are produced straight to the raw topics with the headers the bridge
writes. A subset of bad bodies and every valid sample goes through RabbitMQ and the bridge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from tests.reliability.bodies import HG_V1_EXCHANGE, JOB_EXCHANGE, Message, bad_messages, interleave, valid_messages
from tests.reliability.conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD_COUNT = 10_000

# Bad bodies that go through RabbitMQ and the bridge; the rest are produced to the raw topics.
RELAYED_BAD_COUNT = 600

SEED = 20240611

RELAYED_EXCHANGES = (JOB_EXCHANGE, HG_V1_EXCHANGE)


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    return list(bad_messages(BAD_COUNT, SEED))


def test_bad_input_dead_lettered(make_pipeline: Callable[..., Pipeline], messages: list[Message]) -> None:
    pipeline = make_pipeline()
    # The bridge binds only the job and hg v1 push exchanges, so only those can go through RabbitMQ.
    relayable = [index for index, message in enumerate(messages) if message.exchange in RELAYED_EXCHANGES]
    chosen = set(relayable[:RELAYED_BAD_COUNT])
    relayed_bad = [messages[index] for index in sorted(chosen)]
    direct_bad = [message for index, message in enumerate(messages) if index not in chosen]
    valid = valid_messages()

    relayed = interleave(relayed_bad, valid)
    numbered = [(pipeline.message_id(number), message) for number, message in enumerate(relayed + direct_bad, 1)]
    pipeline.publish(numbered[: len(relayed)])
    pipeline.produce_raw(numbered[len(relayed) :])

    report = pipeline.settle([message_id for message_id, _ in numbered])
    expected = Counter(message.reason for message in messages)

    assert pipeline.worker.exit_code() is None, pipeline.worker.tail()
    assert pipeline.bridge.exit_code() is None, pipeline.bridge.tail()
    assert report.lost == [], report.summary()
    assert report.dead_letter_reasons == dict(expected), report.summary()
    assert report.published == BAD_COUNT + len(valid)
    assert report.dead_lettered == BAD_COUNT
    assert report.stored == len(valid)
    assert report.duplicate_jobs == []
    assert report.state_mismatches == []
    assert report.regressions == []

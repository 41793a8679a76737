"""End-to-end relay tests against the local stack's RabbitMQ and Kafka."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bridge.publish import OutgoingMessage
from bridge_support import (
    JOB_EXCHANGE,
    BridgeProcess,
    BridgeSetup,
    job_messages,
    message_ids,
    publish,
    queue_binding_keys,
    read_topic,
)

pytestmark = pytest.mark.integration

StartBridge = Callable[..., BridgeProcess]


@pytest.mark.slow
def test_relay_10k_exactly_once(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    bridge.wait_consuming()

    publish(bridge_setup.pulse_url, job_messages(0, 10_000))
    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 10_000)
    counts = Counter(message_ids(records))

    assert len(records) == 10_000
    assert set(counts) == {f"m-{index}" for index in range(10_000)}
    assert max(counts.values()) == 1
    assert bridge.terminate() == 0


def test_relay_headers_and_key(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    bridge.wait_consuming()

    publish(bridge_setup.pulse_url, job_messages(0, 1))
    (record,) = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 1, idle=1.0)
    headers = dict(record.headers)

    assert record.key == b"task-0"
    assert record.value == b'{"taskId": "task-0/0", "seq": 0}'
    assert headers["pulse.exchange"] == JOB_EXCHANGE.encode()
    assert headers["pulse.routing_key"] == b"tc-treeherder.v2.try.0"
    assert headers["pulse.root_url"] == b"https://firefox-ci-tc.services.mozilla.com"
    assert headers["amqp.redelivered"] == b"false"
    assert headers["amqp.content_type"] == b"application/json"
    assert "bridge.received_at" in headers


def test_undecodable_body_unchanged(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    body = b"\xff\xfe{not json\x00"
    message = OutgoingMessage(
        exchange=JOB_EXCHANGE,
        routing_key="tc-treeherder.v2.try.bad",
        body=body,
        content_type="application/json",
        content_encoding="binary",
        message_id="bad-1",
    )
    bridge = start_bridge()
    bridge.wait_consuming()

    publish(bridge_setup.pulse_url, [message])
    (record,) = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 1, idle=1.0)

    assert record.value == body
    assert record.key == b"bad-1"


def test_encoded_body_not_decoded(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    body = "café".encode("latin-1")
    message = OutgoingMessage(
        exchange=JOB_EXCHANGE,
        routing_key="tc-treeherder.v2.try.latin",
        body=body,
        content_type="text/plain",
        content_encoding="latin-1",
        message_id="latin-1",
    )
    bridge = start_bridge()
    bridge.wait_consuming()

    publish(bridge_setup.pulse_url, [message])
    (record,) = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 1, idle=1.0)

    assert record.value == body
    assert dict(record.headers)["amqp.content_encoding"] == b"latin-1"


def test_sigterm_drains_and_exits_zero(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    bridge.wait_consuming()
    publish(bridge_setup.pulse_url, job_messages(0, 3000))

    code = bridge.terminate()
    log = bridge.log()

    assert code == 0
    assert "bridge stopped" in log
    assert "still unconfirmed" not in log

    second = start_bridge()
    second.wait_consuming()
    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 3000)

    assert set(message_ids(records)) == {f"m-{index}" for index in range(3000)}
    assert second.terminate() == 0


def test_missing_exchange_named(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    env = {**bridge_setup.env, "PULSE_JOB_SOURCES": "exchange/pulse-local/does-not-exist.#"}

    bridge = start_bridge(env=env)
    code = bridge.process.wait(60)

    assert code == 1
    assert "exchange 'exchange/pulse-local/does-not-exist' not found" in bridge.log()


def test_invalid_setting_exits_two(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    env = {**bridge_setup.env, "BRIDGE_PREFETCH": "lots"}

    bridge = start_bridge(env=env)
    code = bridge.process.wait(60)

    assert code == 2
    assert "BRIDGE_PREFETCH" in bridge.log()


def test_removed_binding_unbound(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    both = {**bridge_setup.env, "PULSE_JOB_SOURCES": f"{JOB_EXCHANGE}.old.#:kept.#"}
    kept = {**bridge_setup.env, "PULSE_JOB_SOURCES": f"{JOB_EXCHANGE}.kept.#"}

    first = start_bridge(env=both)
    first.wait_consuming()
    assert first.terminate() == 0
    second = start_bridge(env=kept)
    second.wait_consuming()
    keys = queue_binding_keys(bridge_setup.pulse_url, bridge_setup.queue)

    assert "#.kept.#" in keys
    assert "#.old.#" not in keys
    assert "unbound queue" in second.log()
    assert second.terminate() == 0

"""Fault tests: bridge crashes, a Kafka outage, a RabbitMQ restart, and secrets in logs.

The Kafka and RabbitMQ tests stop one service of the local stack for a short time, so they
are marked ``slow`` and, outside CI, run only with PULSE_FAULT_RESTARTS=1.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import os

import pytest

from tests.conftest import in_ci
from bridge_support import BridgeProcess, BridgeSetup, job_messages, message_ids, publish, queue_message_count, read_topic, stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

StartBridge = Callable[..., BridgeProcess]


def require_restarts() -> None:
    """Skip the test unless it may stop services of this stack (CI, or PULSE_FAULT_RESTARTS=1)."""
    if not in_ci() and os.environ.get("PULSE_FAULT_RESTARTS") != "1":
        pytest.skip("restarts a stack service; set PULSE_FAULT_RESTARTS=1 with a stack of your own")


def test_sigkill_three_times_loses_nothing(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    total = 20_000
    bridge = start_bridge()
    bridge.wait_consuming()

    publisher = threading.Thread(target=publish, args=(bridge_setup.pulse_url, job_messages(0, total)))
    publisher.start()
    for _ in range(3):
        time.sleep(random.uniform(0.5, 3.0))
        bridge.kill()
        bridge = start_bridge()
        bridge.wait_consuming()
    publisher.join()

    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, total)

    assert set(message_ids(records)) == {f"m-{index}" for index in range(total)}
    assert bridge.terminate() == 0


def test_kafka_outage_acks_nothing_unstored(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    require_restarts()

    bridge = start_bridge()
    bridge.wait_consuming()
    publish(bridge_setup.pulse_url, job_messages(0, 2000))
    read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 2000, idle=1.0)

    stack("down", "kafka")
    try:
        publish(bridge_setup.pulse_url, job_messages(2000, 4000))
        time.sleep(30)
        waiting = queue_message_count(bridge_setup.pulse_url, bridge_setup.queue)
    finally:
        stack("up", "kafka")

    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 4000)

    assert waiting == 2000
    assert set(message_ids(records)) == {f"m-{index}" for index in range(4000)}
    assert bridge.process.poll() is None
    assert "retried" in bridge.log()
    assert bridge.terminate() == 0


def test_rabbitmq_restart_reconnects(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    require_restarts()

    bridge = start_bridge()
    bridge.wait_consuming()
    publish(bridge_setup.pulse_url, job_messages(0, 3000))

    stack("restart", "rabbitmq")
    bridge.wait_consuming(count=2)
    publish(bridge_setup.pulse_url, job_messages(3000, 6000))
    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 6000)

    assert set(message_ids(records)) == {f"m-{index}" for index in range(6000)}
    assert "reconnecting in" in bridge.log()
    assert bridge.process.poll() is None
    assert bridge.terminate() == 0


def test_password_never_logged(bridge_setup: BridgeSetup, start_bridge: StartBridge) -> None:
    password = "bridge-test-Pw-7f3a"
    user = "bridge-log-test"
    vhost = bridge_setup.pulse_url.rsplit("/", 1)[1]
    stack("rabbitmqctl", "add_user", user, password)
    try:
        stack("rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        url = bridge_setup.pulse_url.replace("pulse-local:pulse-local@", f"{user}:{password}@")
        env = {**bridge_setup.env, "PULSE_URL": url, "PULSE_AUTO_DELETE_QUEUES": "1"}
        bridge = start_bridge("--jobs", "--log-level", "DEBUG", env=env)
        bridge.wait_consuming()
        publish(url, job_messages(0, 10))
        read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 10, idle=1.0)
        bridge.terminate()

        # Port 1 on loopback has no listener, so every connection attempt fails.
        broken_url = urlunsplit(urlsplit(url)._replace(netloc=urlsplit(url).netloc.rsplit(":", 1)[0] + ":1"))
        assert broken_url != url
        broken = start_bridge(env={**env, "PULSE_URL": broken_url})
        time.sleep(3)
        broken.terminate()
    finally:
        stack("rabbitmqctl", "delete_user", user)

    assert f"{user}:***@" in bridge.log()
    assert password not in bridge.log()
    assert password not in broken.log()

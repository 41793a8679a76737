"""Fixtures that run the bridge as a process against the local stack's Kafka and RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.urls import parse_pulse_url
from bridge_support import REPO_ROOT, BridgeProcess, BridgeSetup, create_topic, delete_queue

@pytest.fixture
def bridge_setup(pulse_url: str, kafka_bootstrap_servers: str, tmp_path: Path) -> Iterator[BridgeSetup]:
    """Create a test topic and a durable test queue name; delete the queue afterwards."""
    suffix = uuid.uuid4().hex[:10]
    queue_name = f"bridge-test-{suffix}"
    topic = f"bridge-test-{suffix}"
    url = parse_pulse_url(pulse_url)
    env = {
        **os.environ,
        "PULSE_URL": pulse_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "PULSE_JOB_QUEUE_NAME": queue_name,
        "RAW_JOB_TOPIC": topic,
        "PULSE_AUTO_DELETE_QUEUES": "0",
        "BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "BRIDGE_STATS_INTERVAL": "5",
        "BRIDGE_SEND_TIMEOUT": "5",
        "PYTHONPATH": str(REPO_ROOT),
    }
    asyncio.run(create_topic(kafka_bootstrap_servers, topic))

    setup = BridgeSetup(env, f"queue/{url.user}/{queue_name}", topic, pulse_url, kafka_bootstrap_servers, tmp_path)
    yield setup
    delete_queue(pulse_url, setup.queue)


@pytest.fixture
def start_bridge(bridge_setup: BridgeSetup) -> Iterator[Callable[..., BridgeProcess]]:
    """Return a starter of bridge processes; the ones still running are killed at teardown."""
    started: list[BridgeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> BridgeProcess:
        log_path = bridge_setup.workdir / f"bridge-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bridge.cli", *(args or ("--jobs",))],
                env=env or bridge_setup.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        bridge = BridgeProcess(process, log_path)
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        if bridge.process.poll() is None:
            bridge.kill()



"""`pulse-query dead-letters` against the real Kafka: a missing topic is reported, not created."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.query import main

pytestmark = pytest.mark.integration


# Seconds a broker may take to finish creating an auto-created topic.
AUTO_CREATE_SECONDS = 2.0


async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_missing_topic_is_not_created(kafka_bootstrap_servers, monkeypatch, capsys):
    prefix = f"it-query-{secrets.token_hex(4)}."
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    monkeypatch.setenv("TOPIC_PREFIX", prefix)

    code = main(["dead-letters"])

    assert code == 1
    assert "not found" in capsys.readouterr().err
    time.sleep(AUTO_CREATE_SECONDS)
    topics = asyncio.run(list_topics(kafka_bootstrap_servers))
    assert [name for name in topics if name.startswith(prefix)] == []

"""Tests for the Kafka service: rendered files and a produce and consume round trip."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stack.errors import StackError
from stack.kafka import major_version, new_cluster_id, render_log4j, render_pom, render_server_properties


def test_cluster_id_never_starts_with_dash(monkeypatch):
    # 0xF8 encodes to "-" as the first URL-safe base64 character.
    ids = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))

    cluster_id = new_cluster_id()

    assert not cluster_id.startswith("-")
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"


def test_major_version_parses():
    assert major_version("3.9.2") == 3


def test_major_version_invalid():
    with pytest.raises(StackError, match="KAFKA_VERSION"):
        major_version("latest")


def test_pom_3x_uses_reload4j():
    pom = render_pom("3.9.2")

    assert "<artifactId>kafka_2.13</artifactId><version>3.9.2</version>" in pom
    assert "<artifactId>slf4j-reload4j</artifactId>" in pom


def test_pom_4x_uses_log4j2():
    pom = render_pom("4.1.1")

    assert "<artifactId>log4j-slf4j2-impl</artifactId>" in pom
    assert "slf4j-reload4j" not in pom


def test_server_properties_loopback(make_config, tmp_path):
    properties = render_server_properties(make_config(), tmp_path / "data")

    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in properties
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:19092" in properties


def test_server_properties_single_replica(make_config, tmp_path):
    lines = render_server_properties(make_config(), tmp_path / "data").splitlines()

    assert "offsets.topic.replication.factor=1" in lines
    assert "transaction.state.log.replication.factor=1" in lines
    assert "transaction.state.log.min.isr=1" in lines
    assert "group.initial.rebalance.delay.ms=0" in lines


def test_log4j_writes_warn_to_file(tmp_path):
    config = render_log4j(tmp_path / "server.log", "3.9.2")

    assert "log4j.rootLogger=WARN, file" in config
    assert f"File={tmp_path / 'server.log'}" in config


@pytest.mark.integration
async def test_kafka_round_trip(kafka_bootstrap_servers):
    topic = f"stack-test-{uuid.uuid4().hex[:12]}"
    payload = uuid.uuid4().bytes

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, payload, key=b"key-1", headers=[("pulse.exchange", b"x")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"stack-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()

    assert record.offset == sent.offset
    assert record.key == b"key-1"
    assert record.value == payload
    assert record.headers == (("pulse.exchange", b"x"),)

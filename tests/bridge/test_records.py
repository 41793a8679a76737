"""Tests of the Kafka records and headers built from deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from bridge.delivery import Delivery
from bridge.keys import task_key
from bridge.records import build_record

MakeDelivery = Callable[..., Delivery]


def test_record_keeps_body_bytes(make_delivery: MakeDelivery) -> None:
    body = b'{"taskId": "abc/1", "bad": "\xff"}'

    record = build_record(make_delivery(body=body), "pulse-raw-jobs", "https://tc", task_key)

    assert record.value == body
    assert record.topic == "pulse-raw-jobs"


def test_record_headers(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(
        redelivered=True,
        message_id="m-1",
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        content_type="application/json",
        content_encoding="utf-8",
    )

    headers = dict(build_record(delivery, "t", "https://tc", task_key).headers)

    assert headers == {
        "pulse.exchange": b"exchange/taskcluster-treeherder/v1/jobs",
        "pulse.routing_key": b"tc-treeherder.v2.autoland",
        "pulse.root_url": b"https://tc",
        "amqp.redelivered": b"true",
        "amqp.message_id": b"m-1",
        "amqp.timestamp": b"2026-01-02T03:04:05+00:00",
        "amqp.content_type": b"application/json",
        "amqp.content_encoding": b"utf-8",
        "bridge.received_at": b"2026-01-02T03:04:05.678+00:00",
    }


def test_record_omits_unset_properties(make_delivery: MakeDelivery) -> None:
    headers = dict(build_record(make_delivery(), "t", "https://tc", task_key).headers)

    assert "amqp.message_id" not in headers
    assert "amqp.timestamp" not in headers
    assert headers["amqp.redelivered"] == b"false"

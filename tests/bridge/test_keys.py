"""Tests of Kafka key selection for pushes, pulse jobs and task events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from bridge.delivery import Delivery
from bridge.keys import job_key, push_key, task_key

MakeDelivery = Callable[..., Delivery]


def test_hg_push_key_is_repository(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(exchange="exchange/hgpushes/v1", routing_key="integration/autoland", body=b"{}")

    assert push_key(delivery) == b"integration/autoland"


def test_github_push_key_from_body(make_delivery: MakeDelivery) -> None:
    body = json.dumps({"organization": "mozilla-mobile", "repository": "fenix"}).encode()
    delivery = make_delivery(
        exchange="exchange/taskcluster-github/v1/push", routing_key="primary.other.name", body=body
    )

    assert push_key(delivery) == b"mozilla-mobile/fenix"


def test_github_pull_request_key_from_routing_key(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(
        exchange="exchange/taskcluster-github/v1/pull-request",
        routing_key="primary.mozilla-mobile.reference-browser%2.opened",
        body=b"\xff not json",
    )

    assert push_key(delivery) == b"mozilla-mobile/reference-browser.2"


def test_push_events_share_key(make_delivery: MakeDelivery) -> None:
    body = json.dumps({"organization": "servo", "repository": "servo"}).encode()
    push = make_delivery(exchange="exchange/taskcluster-github/v1/push", routing_key="primary.servo.servo", body=body)
    pull = make_delivery(
        exchange="exchange/taskcluster-github/v1/pull-request", routing_key="primary.servo.servo.opened", body=b""
    )

    assert push_key(push) == push_key(pull)


def test_pulse_job_key_drops_run(make_delivery: MakeDelivery) -> None:
    body = json.dumps({"taskId": "008dcdae-bde0-4834-a967-d13d681037ae/0"}).encode()

    assert task_key(make_delivery(body=body)) == b"008dcdae-bde0-4834-a967-d13d681037ae"


def test_task_event_key_from_status(make_delivery: MakeDelivery) -> None:
    body = json.dumps({"status": {"taskId": "A35mWTRuQmyj88yMnIF0fA"}, "runId": 0}).encode()

    assert task_key(make_delivery(body=body)) == b"A35mWTRuQmyj88yMnIF0fA"


def test_task_key_from_primary_routing_key(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(
        exchange="exchange/taskcluster-queue/v1/task-pending",
        routing_key="primary.A35mWTRuQmyj88yMnIF0fA.0._._.aws.linux.level-3.group._",
        body=b"\x00\x01",
    )

    assert task_key(delivery) == b"A35mWTRuQmyj88yMnIF0fA"


def test_task_key_falls_back_to_message_id(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(body=b"[1, 2]", message_id="msg-7")

    assert task_key(delivery) == b"msg-7"


def test_task_key_falls_back_to_body_hash(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(body=b"\xff\xfe")

    assert task_key(delivery) == hashlib.sha256(b"\xff\xfe").hexdigest()[:32].encode()


def test_pulse_job_key_is_push(make_delivery: MakeDelivery) -> None:
    origin = {"kind": "hg.mozilla.org", "project": "autoland", "revision": "a" * 40}
    body = json.dumps({"taskId": "008dcdae-bde0-4834-a967-d13d681037ae/0", "origin": origin}).encode()

    assert job_key(make_delivery(body=body)) == f"autoland/{'a' * 40}".encode()


def test_job_events_of_task_share_key(make_delivery: MakeDelivery) -> None:
    origin = {"project": "try", "revision": "b" * 40}
    running = json.dumps({"taskId": "T/0", "state": "running", "origin": origin}).encode()
    completed = json.dumps({"taskId": "T/0", "state": "completed", "origin": origin}).encode()

    assert job_key(make_delivery(body=running)) == job_key(make_delivery(body=completed))


def test_pulse_job_key_without_origin_is_task(make_delivery: MakeDelivery) -> None:
    body = json.dumps({"taskId": "A35mWTRuQmyj88yMnIF0fA/1", "origin": {"project": "autoland"}}).encode()

    assert job_key(make_delivery(body=body)) == b"A35mWTRuQmyj88yMnIF0fA"


def test_pulse_job_key_of_bad_body_falls_back(make_delivery: MakeDelivery) -> None:
    delivery = make_delivery(body=b"\xff not json")

    assert job_key(delivery) == task_key(delivery)

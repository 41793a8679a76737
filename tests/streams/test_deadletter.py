"""Dead-letter records: fields, error description and the body size limit."""

from __future__ import annotations

import base64

from streams.agents.publish import encode_json
from streams.errors import RejectedMessage, RejectReason
from streams.sinks.deadletter import MAX_RECORD_BYTES, build_dead_letter_record, describe_error


def test_record_fields(make_source):
    source = make_source(
        "pulse-raw-pushes", b"body", key="repo", partition=1, offset=9,
        headers={"pulse.routing_key": "r"},
    )

    record = build_dead_letter_record(
        source, stage="push-ingest", reason="schema", message="bad", failed_at="2026-01-01T00:00:00.000Z"
    )

    assert record == {
        "reason": "schema",
        "message": "bad",
        "detail": [],
        "stage": "push-ingest",
        "source": {"topic": "pulse-raw-pushes", "partition": 1, "offset": 9, "key": "repo"},
        "headers": {"pulse.routing_key": "r"},
        "body_base64": base64.b64encode(b"body").decode(),
        "failed_at": "2026-01-01T00:00:00.000Z",
    }


def test_failed_at_is_utc(make_source):
    record = build_dead_letter_record(make_source("t", b""), stage="join", reason="schema", message="m")

    assert record["failed_at"].endswith("Z")


def test_large_body_is_cut(make_source):
    body = b"x" * (MAX_RECORD_BYTES + 1000)

    record = build_dead_letter_record(make_source("t", body), stage="join", reason="too-large", message="m")

    assert len(encode_json(record)) <= MAX_RECORD_BYTES
    assert record["body_truncated"] is True
    assert record["body_size"] == len(body)


def test_rejected_message_keeps_reason():
    error = RejectedMessage(RejectReason.UNKNOWN_REPOSITORY, "no repo", detail={"name": "x"})

    assert describe_error(error) == ("unknown-repository", "no repo", {"name": "x"})


def test_unexpected_error_is_transform_error():
    reason, message, detail = describe_error(ZeroDivisionError("division by zero"))

    assert reason == "transform-error"
    assert message == "unexpected ZeroDivisionError: division by zero"
    assert detail["exception"] == "ZeroDivisionError"

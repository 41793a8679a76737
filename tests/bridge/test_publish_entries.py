"""Tests of the pulse-publish input formats."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bridge.publish import PublishError, entry_to_message, read_entries


def test_entry_json_body() -> None:
    message = entry_to_message({"exchange": "e", "routing_key": "r", "body": {"a": 1}}, "x")

    assert message.body == b'{"a":1}'
    assert message.content_type == "application/json"


def test_entry_base64_body_raw() -> None:
    raw = b"\xff\x00not json"
    entry = {"exchange": "e", "routing_key": "r", "body_base64": base64.b64encode(raw).decode()}

    message = entry_to_message(entry, "x")

    assert message.body == raw
    assert message.content_type == "application/octet-stream"


def test_entry_properties() -> None:
    entry = {"exchange": "e", "routing_key": "r", "body": 1, "properties": {"message_id": "m", "content_type": "a/b"}}

    message = entry_to_message(entry, "x")

    assert message.message_id == "m"
    assert message.content_type == "a/b"


@pytest.mark.parametrize(
    "entry",
    [
        [],
        {"routing_key": "r", "body": 1},
        {"exchange": "e", "routing_key": "", "body": 1},
        {"exchange": "e", "routing_key": "r"},
        {"exchange": "e", "routing_key": "r", "body_base64": "***"},
        {"exchange": "e", "routing_key": "r", "body": 1, "properties": {"priority": 1}},
    ],
)
def test_entry_rejects_invalid(entry: object) -> None:
    with pytest.raises(PublishError):
        entry_to_message(entry, "x")


def test_read_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    lines = [{"exchange": "e", "routing_key": str(index), "body": index} for index in range(3)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")

    messages = list(read_entries(path))

    assert [message.routing_key for message in messages] == ["0", "1", "2"]


def test_read_folder_sorted(tmp_path: Path) -> None:
    for name in ("b", "a"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"exchange": "e", "routing_key": name, "body": {}}))

    messages = list(read_entries(tmp_path))

    assert [message.routing_key for message in messages] == ["a", "b"]


def test_read_names_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_text('{"exchange": "e", "routing_key": "r", "body": 1}\n{oops\n', encoding="utf-8")

    with pytest.raises(PublishError, match="messages.jsonl:2"):
        list(read_entries(path))

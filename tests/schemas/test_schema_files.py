"""Tests of the shipped JSON Schemas: loading, draft-07 validity and portable patterns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from schemas import SCHEMA_NAMES, load_schema
from streams.errors import RejectReason
from streams.validation.validator import get_validator

CORPUS = Path(__file__).resolve().parents[1] / "data" / "treeherder"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
REF_SIBLINGS_ALLOWED = {"$ref", "description", "title"}


def read(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def subschemas(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every mapping inside a schema, including the schema itself."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from subschemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from subschemas(value)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_draft_07(name):
    schema = load_schema(name)

    assert schema["$schema"] == DRAFT_07
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_ref_has_no_siblings(name):
    # Draft-07 ignores keywords next to $ref, so a bound written there would never apply.
    for node in subschemas(load_schema(name)):
        if "$ref" in node:
            assert set(node) <= REF_SIBLINGS_ALLOWED, node


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_end_anchor_portable(name):
    # Python's "$" also matches before a final newline; jsonschema would accept "abc\n" where
    # fastjsonschema (which rewrites "$" to "\Z") rejects it.
    for node in subschemas(load_schema(name)):
        pattern = node.get("pattern")
        if not isinstance(pattern, str):
            continue

        assert "\\Z" not in pattern
        if pattern.endswith("$"):
            assert node.get("minLength") == node.get("maxLength") is not None, pattern
        else:
            assert pattern.endswith("$(?!\\n)"), pattern


def test_load_returns_copy():
    schema = load_schema("pulse-job")
    schema["required"].append("extra")

    assert "extra" not in load_schema("pulse-job")["required"]


def test_load_unknown_name():
    with pytest.raises(KeyError):
        load_schema("no-such-schema")


@pytest.mark.parametrize("value", ["a" * 40 + "\n", "a" * 39, "g" * 40, "A" * 40])
def test_revision_pattern_rejects(value):
    validator = get_validator("push-record")
    record = {
        "repository": "try",
        "revision": value,
        "author": "user@example.com",
        "push_timestamp": 0,
        "revisions": [],
        "branch": None,
        "enriched": False,
        "kind": "hg",
    }

    assert validator.is_valid(record) is False
    assert validator.reference.is_valid(record) is False


def test_job_records_valid():
    validator = get_validator("job-record")
    for expected in read("transformed_job_data.json"):
        record = {"repository": "autoland", **expected}

        assert validator.errors(record) == []


def test_task_configs_valid():
    validator = get_validator("task-treeherder-config")
    configs = [
        task["extra"]["treeherder"]
        for task in read("taskcluster_tasks.json").values()
        if "treeherder" in task.get("extra", {})
    ]

    assert configs
    assert all(validator.is_valid(config) for config in configs)


@pytest.mark.parametrize(
    "config",
    [{}, {"symbol": "x" * 26}, {"symbol": "B", "tier": 4}, {"symbol": "B", "machine": {}}],
)
def test_task_config_invalid(config):
    assert get_validator("task-treeherder-config").is_valid(config) is False


def test_dead_letter_example_valid():
    record = {
        "reason": "schema",
        "message": "invalid pulse-job document",
        "detail": [{"path": "$.display.jobName", "rule": "maxLength", "value": "'nnn'"}],
        "stage": "job-agent",
        "source": {"topic": "pulse-raw-jobs", "partition": 0, "offset": 12, "key": "abc"},
        "headers": {"pulse.exchange": "exchange/taskcluster-queue/v1/task-completed"},
        "body_base64": "e30=",
        "failed_at": "2026-01-01T00:00:00Z",
    }

    assert get_validator("dead-letter-record").errors(record) == []


def test_dead_letter_reasons_match_enum():
    reasons = load_schema("dead-letter-record")["properties"]["reason"]["enum"]

    assert reasons == [reason.value for reason in RejectReason]


def test_dead_letter_unknown_reason():
    record = {"reason": "bad-luck"}

    assert get_validator("dead-letter-record").is_valid(record) is False

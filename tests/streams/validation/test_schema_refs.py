"""Tests of inline_local_refs."""

from __future__ import annotations

from streams.validation.refs import inline_local_refs


def test_local_ref_inlined():
    schema = {
        "definitions": {"name": {"type": "string", "maxLength": 5}},
        "properties": {"a": {"$ref": "#/definitions/name"}},
    }

    assert inline_local_refs(schema)["properties"]["a"] == {"type": "string", "maxLength": 5}


def test_original_unchanged():
    schema = {"definitions": {"x": {"type": "integer"}}, "items": {"$ref": "#/definitions/x"}}

    inline_local_refs(schema)

    assert schema["items"] == {"$ref": "#/definitions/x"}


def test_cycle_kept():
    schema = {
        "definitions": {"node": {"type": "array", "items": {"$ref": "#/definitions/node"}}},
        "items": {"$ref": "#/definitions/node"},
    }

    inlined = inline_local_refs(schema)

    assert inlined["items"]["items"] == {"$ref": "#/definitions/node"}


def test_remote_ref_kept():
    schema = {"items": {"$ref": "https://example.com/other.json"}}

    assert inline_local_refs(schema) == schema


def test_missing_target_kept():
    schema = {"items": {"$ref": "#/definitions/absent"}}

    assert inline_local_refs(schema) == schema

"""Tests of the binding state file."""

from __future__ import annotations

from pathlib import Path

from bridge.binding_store import BindingStore
from bridge.sources import Binding


def store_at(tmp_path: Path) -> BindingStore:
    return BindingStore(tmp_path, "127.0.0.1", 19672, "pulse", "queue/pulse-local/jobs-h")


def test_store_round_trip(tmp_path: Path) -> None:
    bindings = frozenset({Binding("exchange/a/v1", "#"), Binding("exchange/b/v1", "#.x")})

    store_at(tmp_path).save(bindings)

    assert store_at(tmp_path).load() == bindings


def test_store_missing_file_is_empty(tmp_path: Path) -> None:
    assert store_at(tmp_path).load() == frozenset()


def test_store_ignores_corrupt_file(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json", encoding="utf-8")

    assert store.load() == frozenset()


def test_store_path_is_one_safe_name(tmp_path: Path) -> None:
    path = store_at(tmp_path).path

    assert path.parent == tmp_path / "bindings"
    assert "/" not in path.name

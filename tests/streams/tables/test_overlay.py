"""Table overlay: buffered changes, reads through to the table once per key."""

from __future__ import annotations

from typing import Any

from streams.tables.overlay import TableOverlay


class CountingTable(dict):
    """Dict table that counts reads per key."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads: dict[Any, int] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key, default)


def test_table_read_once_per_key():
    table = CountingTable({"a": 1})
    overlay = TableOverlay(table)

    values = [overlay.get("a") for _ in range(5)] + [overlay.get("missing") for _ in range(3)]

    assert values == [1] * 5 + [None] * 3
    assert table.reads == {"a": 1, "missing": 1}


def test_change_hides_earlier_read():
    table = CountingTable({"a": 1})
    overlay = TableOverlay(table)

    first = overlay.get("a")
    overlay.set("a", 2, None)
    after_set = overlay.get("a")
    overlay.delete("a", None)
    after_delete = overlay.get("a")

    assert first == 1
    assert after_set == 2
    assert after_delete is None


def test_commit_writes_and_reads_again():
    table = CountingTable({"a": 1})
    overlay = TableOverlay(table)
    overlay.get("b")
    overlay.set("b", 3, None)
    overlay.delete("a", None)

    count = overlay.commit()

    assert count == 2
    assert dict(table) == {"b": 3}
    assert overlay.get("b") == 3
    assert overlay.get("a") is None

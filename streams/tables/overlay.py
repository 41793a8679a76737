"""Buffered changes to a table that are written to it only once a batch is confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streams.tables.scope import event_scope

# Marks a key deleted in the overlay.
_DELETED = object()


class TableOverlay:
    """Reads through to a table, keeps writes and deletes aside, and applies them on commit.

    Every change remembers the Faust event in whose scope it was made, because that event's
    partition is the key's table partition. Reads of keys not changed yet go to the table
    under the current scope, once per key: an overlay lives for one batch, during which only
    its own commit changes the table.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._changes: dict[Any, tuple[Any, Any]] = {}
        # Values read from the table, so the jobs of one push decode its record once.
        self._reads: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        """Return the value of ``key``, or None when it is absent or deleted."""
        if key in self._changes:
            value = self._changes[key][0]
            return None if value is _DELETED else value
        if key not in self._reads:
            self._reads[key] = self._table.get(key)
        return self._reads[key]

    def set(self, key: Any, value: Any, event: Any) -> None:
        """Store ``value`` under ``key`` on commit, in the partition of ``event``."""
        self._changes[key] = (value, event)

    def delete(self, key: Any, event: Any) -> None:
        """Delete ``key`` on commit."""
        self._changes[key] = (_DELETED, event)

    def changed_keys(self) -> Iterator[Any]:
        """Return the keys with a pending change."""
        return iter(self._changes)

    def commit(self) -> int:
        """Apply the changes to the table in the order they were first made; return the count."""
        for key, (value, event) in self._changes.items():
            with event_scope(event):
                if value is _DELETED:
                    if self._table.get(key) is not None:
                        del self._table[key]
                else:
                    self._table[key] = value

        count = len(self._changes)
        self._changes.clear()
        self._reads.clear()
        return count

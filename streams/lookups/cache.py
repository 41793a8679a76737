"""Bounded least-recently-used cache of decoded lookup responses."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any


class LruCache:
    """Mapping from URL to decoded JSON that drops the least recently used entry when full.

    Values are deep-copied in and out, so a caller that changes a returned object cannot
    change what later callers get. A ``max_size`` of 0 disables the cache.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[str, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> tuple[bool, Any]:
        """Return ``(True, value)`` on a hit, marking the entry as recently used."""
        if key not in self._entries:
            return False, None
        self._entries.move_to_end(key)
        return True, copy.deepcopy(self._entries[key])

    def put(self, key: str, value: Any) -> None:
        """Store ``value``, dropping the least recently used entries beyond ``max_size``."""
        if self.max_size <= 0:
            return
        self._entries[key] = copy.deepcopy(value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()

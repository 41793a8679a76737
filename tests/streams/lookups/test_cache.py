"""Tests of the bounded LRU cache."""

from __future__ import annotations

from streams.lookups.cache import LruCache


def test_least_recent_entry_evicted():
    cache = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")

    cache.put("c", 3)

    assert "a" in cache
    assert "b" not in cache
    assert len(cache) == 2


def test_miss_returns_false():
    assert LruCache(1).get("missing") == (False, None)


def test_zero_size_stores_nothing():
    cache = LruCache(0)

    cache.put("a", 1)

    assert len(cache) == 0

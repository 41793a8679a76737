"""Tests of the record-to-row conversion helpers."""

from __future__ import annotations

import datetime

from streams.sinks.database.rows import epoch_to_datetime, option_collection_text, split_rounds


def test_rounds_keep_order_per_key() -> None:
    items = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]

    rounds = split_rounds(items, key=lambda item: item[0])

    assert rounds == [[("a", 1), ("b", 1)], [("a", 2), ("b", 2)], [("a", 3)]]


def test_rounds_of_empty_input() -> None:
    assert split_rounds([], key=lambda item: item) == []


def test_option_labels_sorted() -> None:
    assert option_collection_text({"opt": True, "asan": True, "debug": False}) == "asan opt"


def test_epoch_to_utc() -> None:
    assert epoch_to_datetime(1740639843) == datetime.datetime(
        2025, 2, 27, 7, 4, 3, tzinfo=datetime.UTC
    )


def test_missing_epoch_is_zero() -> None:
    assert epoch_to_datetime(None) == datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

"""Selecting the Faust event whose partition table reads and writes use."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def event_scope(event: Any | None) -> Iterator[None]:
    """Make ``event`` Faust's current event inside the block; None leaves it unchanged.

    Faust (faust-streaming 0.15.3) reads and writes a table key in the partition of the
    current event, and the changelog record goes to that partition too. Events of a batch
    come from several partitions, so each table access of a batch runs in the scope of the
    event that owns the key.
    NOTE: `_current_event` is private to Faust; recheck it when upgrading Faust.
    """
    if event is None:
        yield
        return

    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)

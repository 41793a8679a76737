"""Tests of DatabaseSink.find_pushes: stored pushes read back as push records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from streams.errors import RetriableError
from streams.sinks.database.writer import DatabaseSink
from tests.streams.sinks.database.conftest import REPOSITORY

Factory = Callable[..., dict[str, Any]]

OTHER_REVISION = "b" * 40
MISSING_REVISION = "c" * 40


async def test_finds_stored_pushes(sink: DatabaseSink, make_push_record: Factory) -> None:
    stored = make_push_record(branch="default")
    other = make_push_record(revision=OTHER_REVISION, enriched=False)
    await sink.write_pushes([stored, other])

    found = await sink.find_pushes(
        [(REPOSITORY, stored["revision"]), (REPOSITORY, OTHER_REVISION), (REPOSITORY, MISSING_REVISION)]
    )

    assert sorted(found) == sorted([(REPOSITORY, stored["revision"]), (REPOSITORY, OTHER_REVISION)])
    assert found[(REPOSITORY, stored["revision"])] == {**stored, "revisions": []}
    assert found[(REPOSITORY, OTHER_REVISION)] == other


async def test_leaves_out_keys_not_asked(sink: DatabaseSink, make_push_record: Factory) -> None:
    await sink.write_pushes([make_push_record(), make_push_record(revision=OTHER_REVISION)])

    found = await sink.find_pushes([(REPOSITORY, OTHER_REVISION), ("autoland", MISSING_REVISION)])

    assert list(found) == [(REPOSITORY, OTHER_REVISION)]


async def test_unknown_repository_finds_nothing(sink: DatabaseSink, make_push_record: Factory) -> None:
    record = make_push_record()
    await sink.write_pushes([record])

    assert await sink.find_pushes([("autoland", record["revision"])]) == {}
    assert await sink.find_pushes([]) == {}


async def test_closed_port_read_retriable(
    make_sink: Callable[..., Awaitable[DatabaseSink]],
) -> None:
    sink = await make_sink("postgresql+asyncpg://user:secret@127.0.0.1:1/none")

    with pytest.raises(RetriableError) as raised:
        await sink.find_pushes([(REPOSITORY, MISSING_REVISION)])

    assert "secret" not in str(raised.value)

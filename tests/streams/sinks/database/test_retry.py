"""Tests of retriable errors, write_with_retry and password masking."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from streams.errors import RetriableError
from streams.sinks.database.backoff import backoff_delay
from streams.sinks.database.errors import is_retriable
from streams.sinks.database.migrate import upgrade_database
from streams.sinks.database.queries import table_counts
from streams.sinks.database.writer import DatabaseSink

PASSWORD = "s3cret-Passw0rd"

# Port 1 on the loopback interface has no listener, so connecting fails at once.
CLOSED_URL = f"postgresql+asyncpg://pulse_ingest:{PASSWORD}@127.0.0.1:1/pulse_ingest"

SinkFactory = Callable[..., Awaitable[DatabaseSink]]


async def test_closed_port_retriable(
    make_sink: SinkFactory, make_push_record: Callable[..., dict[str, Any]]
) -> None:
    sink = await make_sink(CLOSED_URL)

    with pytest.raises(RetriableError) as raised:
        await sink.write_pushes([make_push_record()])

    assert raised.value.retriable is True
    assert PASSWORD not in str(raised.value)
    assert "pulse_ingest:***@127.0.0.1:1" in str(raised.value)


async def test_upgrade_closed_port_retriable() -> None:
    with pytest.raises(RetriableError) as raised:
        await upgrade_database(CLOSED_URL)

    assert PASSWORD not in str(raised.value)


async def test_retry_until_stopped(
    make_sink: SinkFactory,
    make_push_record: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = await make_sink(CLOSED_URL)
    calls = 0

    async def write(records: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        try:
            await sink.write_pushes(records)
        finally:
            if calls == 3:
                await sink.stop()

    caplog.set_level(logging.INFO, logger="streams.sinks.database")
    with pytest.raises(RetriableError):
        await sink.write_with_retry(write, [make_push_record()])

    assert calls == 3
    assert sink.metrics.retries.labels("write")._value.get() == 2
    assert PASSWORD not in caplog.text
    assert "mozilla-central/9c6e4c31ad26efdad0b9af47a2b530bc414ce2c3" in caplog.text


async def test_retry_stops_during_backoff(
    make_sink: SinkFactory, make_push_record: Callable[..., dict[str, Any]]
) -> None:
    sink = await make_sink(CLOSED_URL, retry_initial=3600.0, retry_max=3600.0)
    failed = asyncio.Event()

    async def write(records: list[dict[str, Any]]) -> None:
        try:
            await sink.write_pushes(records)
        finally:
            failed.set()

    task = asyncio.create_task(sink.write_with_retry(write, [make_push_record()]))
    await failed.wait()
    await sink.stop()

    with pytest.raises(RetriableError):
        await task


async def test_retry_succeeds_when_back(
    tmp_path: Path,
    make_sink: SinkFactory,
    make_push_record: Callable[..., dict[str, Any]],
    make_repository: Callable[..., Any],
) -> None:
    # The folder of the SQLite file does not exist yet, so opening it fails until
    # upgrade_database creates folder and tables on the third attempt.
    url = f"sqlite+aiosqlite:///{tmp_path / 'later' / 'ingest.db'}"
    sink = await make_sink(url)
    calls = 0

    async def write(records: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            await upgrade_database(url)
            await sink.ensure_repositories([make_repository()])
        await sink.write_pushes(records)

    await sink.write_with_retry(write, [make_push_record()])

    assert calls == 3
    assert sink.metrics.retries.labels("write")._value.get() == 2
    assert (await table_counts(sink.engine))["push"] == 1


def test_backoff_doubles_to_max() -> None:
    rng = random.Random(7)
    bounds = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]

    for attempt, (low, high) in enumerate(bounds, start=1):
        delay = backoff_delay(attempt, initial=1.0, maximum=5.0, rng=rng)
        assert low <= delay <= high, f"attempt {attempt}: {delay}"


def test_backoff_huge_attempt() -> None:
    assert backoff_delay(10_000, initial=0.5, maximum=30.0) <= 30.0


def test_operational_error_retriable() -> None:
    assert is_retriable(OperationalError("SELECT 1", {}, Exception("server closed")))


def test_integrity_error_not_retriable() -> None:
    assert not is_retriable(IntegrityError("INSERT", {}, Exception("duplicate key")))


def test_invalidated_connection_retriable() -> None:
    error = DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)

    assert is_retriable(error)


def test_connection_refused_retriable() -> None:
    assert is_retriable(ConnectionRefusedError(111, "Connect call failed"))

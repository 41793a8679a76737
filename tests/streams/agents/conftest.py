"""Fixtures of the worker integration tests: database per test, Kafka client, worker factory."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from streams.sinks.database.engine import create_database_engine
from tests.streams.agents.harness import Kafka, WorkerProcess, free_port


@pytest.fixture
def test_id() -> str:
    """Short unique id that names this test's topics, consumer group and schema."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(request: pytest.FixtureRequest, test_id: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database: a PostgreSQL schema of the test database, or a SQLite file."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
        return

    base_url = request.getfixturevalue("test_database_url")
    schema = f"worker_{test_id}"
    engine = create_database_engine(base_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}search_path={schema}"
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def kafka(kafka_bootstrap_servers: str, test_id: str) -> AsyncIterator[Kafka]:
    client = Kafka(kafka_bootstrap_servers)
    await client.start()
    try:
        yield client
    finally:
        await client.close()
        await client.delete_topics([f"it-{test_id}-"])


@pytest.fixture
def make_worker(
    kafka_bootstrap_servers: str, test_id: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Build a worker with this test's topics; keyword arguments become environment variables."""
    workers: list[WorkerProcess] = []

    def build(database_url: str, **overrides: str) -> WorkerProcess:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "TOPIC_PREFIX": f"it-{test_id}-",
            "APP_ID": f"it-{test_id}",
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "TOPIC_PARTITIONS": "4",
            "METRICS_PORT": str(free_port()),
            "RETRY_INITIAL": "0.2",
            "RETRY_MAX": "2",
            "DATABASE_RETRY_INITIAL": "0.2",
            "DATABASE_RETRY_MAX": "2",
            "LOG_LEVEL": "info",
            # No lookups unless a test enables them against its fixture server on 127.0.0.1.
            "PUSH_ENRICHMENT": "false",
            "PUSHLOG_POLL_INTERVAL": "0",
        }
        env.update(overrides)
        worker = WorkerProcess(env, tmp_path)
        workers.append(worker)
        return worker

    yield build

    # WORKER_TEST_LOG_DIR keeps the worker logs, which pytest removes with old tmp folders.
    keep = os.environ.get("WORKER_TEST_LOG_DIR")
    for worker in workers:
        worker.ensure_stopped()
        if keep:
            target = Path(keep) / test_id
            target.mkdir(parents=True, exist_ok=True)
            for log in tmp_path.glob("worker-*.log"):
                shutil.copy(log, target / log.name)

"""Fixtures of the database sink tests: one database per test on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from streams.sinks.database.config import DatabaseSettings
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.migrate import upgrade_database
from streams.sinks.database.writer import DatabaseSink

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "treeherder"

REPOSITORY = "mozilla-central"

# Head revision of the push that every job of transformed_job_data.json belongs to.
JOB_REVISION = "9c6e4c31ad26efdad0b9af47a2b530bc414ce2c3"


@dataclass(frozen=True)
class RepositoryEntry:
    """A registry entry as the repository registry provides it."""

    name: str
    url: str
    dvcs_type: str
    active: bool
    tc_root_url: str


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def backend(request: pytest.FixtureRequest) -> str:
    """Database backend of the test. PostgreSQL tests skip when it is down, and fail in CI."""
    if request.param == "postgresql":
        request.getfixturevalue("test_database_url")
    return request.param


@pytest.fixture
async def make_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Factory of empty databases: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    schemas: list[str] = []
    base_url = request.getfixturevalue("test_database_url") if backend == "postgresql" else ""

    async def factory() -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite'}"

        schema = f"test_{uuid.uuid4().hex[:12]}"
        engine = create_database_engine(base_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        finally:
            await engine.dispose()
        schemas.append(schema)
        return f"{base_url}?search_path={schema}"

    yield factory

    if schemas:
        engine = create_database_engine(base_url)
        try:
            async with engine.begin() as connection:
                for schema in schemas:
                    await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            await engine.dispose()


@pytest.fixture
async def database_url(make_database_url: Callable[[], Awaitable[str]]) -> str:
    """URL of an empty database."""
    return await make_database_url()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """URL of a database at the newest migration."""
    await upgrade_database(database_url)
    return database_url


@pytest.fixture
def make_repository() -> Callable[..., RepositoryEntry]:
    """Factory of repository registry entries."""

    def factory(name: str = REPOSITORY, **fields: Any) -> RepositoryEntry:
        values: dict[str, Any] = {
            "url": f"https://hg.mozilla.org/{name}",
            "dvcs_type": "hg",
            "active": True,
            "tc_root_url": "https://firefox-ci-tc.services.mozilla.com",
        }
        values.update(fields)
        return RepositoryEntry(name=name, **values)

    return factory


@pytest.fixture
async def make_sink() -> AsyncIterator[Callable[..., Awaitable[DatabaseSink]]]:
    """Factory of started sinks, each with its own metrics registry, stopped afterwards."""
    sinks: list[DatabaseSink] = []

    async def factory(url: str, **settings: Any) -> DatabaseSink:
        values: dict[str, Any] = {"retry_initial": 0.001, "retry_max": 0.01}
        values.update(settings)
        sink = DatabaseSink(DatabaseSettings(url=url, **values), registry=CollectorRegistry())
        await sink.start()
        sinks.append(sink)
        return sink

    yield factory

    for sink in sinks:
        await sink.stop()


@pytest.fixture
async def sink(
    migrated_url: str,
    make_sink: Callable[..., Awaitable[DatabaseSink]],
    make_repository: Callable[..., RepositoryEntry],
) -> DatabaseSink:
    """Started sink on a migrated database that has the `mozilla-central` repository."""
    started = await make_sink(migrated_url)
    await started.ensure_repositories([make_repository()])
    return started


@pytest.fixture
def make_push_record() -> Callable[..., dict[str, Any]]:
    """Factory of push records, by default the push that the sample jobs belong to."""

    def factory(
        revision: str = JOB_REVISION,
        repository: str = REPOSITORY,
        enriched: bool = True,
        revisions: list[dict[str, str]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        if revisions is None:
            revisions = [
                {"revision": "1" * 40, "author": "Author 1 <one@example.com>", "comment": "One"},
                {"revision": revision, "author": "Author 2 <two@example.com>", "comment": "Two"},
            ]
        record: dict[str, Any] = {
            "repository": repository,
            "revision": revision,
            "author": "two@example.com",
            "push_timestamp": 1740767261,
            "revisions": revisions if enriched else [],
            "branch": None,
            "enriched": enriched,
            "kind": "hg",
        }
        record.update(fields)
        return record

    return factory


@pytest.fixture(scope="session")
def transformed_job_data() -> list[dict[str, Any]]:
    """The 30 job records of transformed_job_data.json, without a repository."""
    return json.loads((DATA_DIR / "transformed_job_data.json").read_text())


@pytest.fixture
def transformed_jobs(transformed_job_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 30 sample job records with their repository set."""
    return [dict(copy.deepcopy(record), repository=REPOSITORY) for record in transformed_job_data]


@pytest.fixture
def make_job_record(
    transformed_job_data: list[dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """Factory of job records built from the first sample job, with `job_fields` overriding it."""

    def factory(
        guid: str | None = None,
        state: str = "completed",
        result: str | None = None,
        repository: str = REPOSITORY,
        revision: str = JOB_REVISION,
        superseded: list[str] | None = None,
        **job_fields: Any,
    ) -> dict[str, Any]:
        job = copy.deepcopy(transformed_job_data[0]["job"])
        job["job_guid"] = guid if guid is not None else f"{uuid.uuid4()}/0"
        job["state"] = state
        job["result"] = result if result is not None else _default_result(state)
        job.update(job_fields)
        return {
            "repository": repository,
            "revision": revision,
            "superseded": superseded or [],
            "job": job,
        }

    return factory


@pytest.fixture
async def push_sink(
    sink: DatabaseSink, make_push_record: Callable[..., dict[str, Any]]
) -> DatabaseSink:
    """Sink whose database also has the push of the sample jobs."""
    await sink.write_pushes([make_push_record()])
    return sink


def _default_result(state: str) -> str:
    return "success" if state == "completed" else "unknown"

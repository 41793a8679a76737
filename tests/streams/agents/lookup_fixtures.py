"""Fixtures of the worker tests with lookups: the fixture HTTP server and stored pushes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from streams.lookups.fixture_server import FixtureData, FixtureServer
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import commit, push, repository
from tests.streams.conftest import CORPUS


@pytest.fixture
async def lookup_server() -> AsyncIterator[FixtureServer]:
    """Fixture server on 127.0.0.1 that serves every lookup from the Treeherder samples."""
    server = FixtureServer(FixtureData.load(CORPUS))
    await server.start()
    yield server
    await server.stop()


def lookup_env(base_url: str, **overrides: str) -> dict[str, str]:
    """Return worker variables that send every lookup to ``base_url`` with short retries."""
    env = {
        "LOOKUP_BASE_URL_OVERRIDE": base_url,
        "LOOKUP_TIMEOUT": "1",
        "LOOKUP_RETRIES": "2",
        "LOOKUP_BACKOFF_INITIAL": "0.05",
        "LOOKUP_BACKOFF_MAX": "0.1",
    }
    env.update(overrides)
    return env


async def fetch_pushes(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Return (repository, revision) -> {enriched, revisions} of every stored push.

    ``revisions`` lists the push's commits as {revision, author, comment}, in insert order.
    """
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            pushes = await connection.execute(
                select(push.c.id, repository.c.name, push.c.revision, push.c.enriched).join(
                    repository, push.c.repository_id == repository.c.id
                )
            )
            commits = await connection.execute(
                select(commit.c.push_id, commit.c.revision, commit.c.author, commit.c.comment)
                .order_by(commit.c.id)
            )
            commit_rows = commits.all()

            stored: dict[tuple[str, str], dict[str, Any]] = {}
            for row in pushes:
                revisions = [
                    {"revision": item.revision, "author": item.author, "comment": item.comment}
                    for item in commit_rows
                    if item.push_id == row.id
                ]
                stored[(row.name, row.revision)] = {"enriched": row.enriched, "revisions": revisions}
            return stored
    finally:
        await engine.dispose()

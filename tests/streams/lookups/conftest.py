"""Factories for lookup tests: the fixture HTTP server on 127.0.0.1 and started lookup clients."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams.lookups.client import LookupClient
from streams.lookups.fixture_server import FixtureData, FixtureServer
from streams.lookups.settings import LookupSettings

CORPUS = Path(__file__).resolve().parents[2] / "data" / "treeherder"

TASK_ID = "A35mWTRuQmyj88yMnIF0fA"
"""A corpus task with a definition in taskcluster_tasks.json."""

TASK_PATH = f"/api/queue/v1/task/{TASK_ID}"


@cache
def _read(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def corpus(name: str) -> Any:
    """Return a fresh deep copy of a Treeherder sample file."""
    return copy.deepcopy(_read(name))


@pytest.fixture
async def server() -> AsyncIterator[FixtureServer]:
    """Fixture server over the corpus with GitHub pages of 2 items."""
    fixture = FixtureServer(FixtureData.load(CORPUS), github_page_size=2)
    await fixture.start()
    yield fixture
    await fixture.stop()


@pytest.fixture
async def make_lookup(server: FixtureServer) -> AsyncIterator[Callable[..., Awaitable[LookupClient]]]:
    """Start lookup clients that send everything to ``server`` with near-zero backoff."""
    clients: list[LookupClient] = []

    async def build(**overrides: Any) -> LookupClient:
        values: dict[str, Any] = {"backoff_initial": 0.001, "backoff_max": 0.002, "retries": 2}
        values.update(overrides)
        client = LookupClient(
            LookupSettings.for_base_url(server.url, **values), rng=random.Random(7)
        )
        await client.start()
        clients.append(client)
        return client

    yield build

    for client in clients:
        await client.stop()


@pytest.fixture
async def lookup(make_lookup: Callable[..., Awaitable[LookupClient]]) -> LookupClient:
    return await make_lookup()

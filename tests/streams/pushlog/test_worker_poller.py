"""Worker subprocess with the pushlog poller: the sample pushlog is ingested once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from streams.config import WorkerSettings
from streams.lookups.fixture_server import FixtureData, FixtureServer
from tests.streams.agents.conftest import database_url, kafka, make_worker, test_id  # noqa: F401
from tests.streams.agents.harness import WAIT_SECONDS
from tests.streams.agents.lookup_fixtures import fetch_pushes, lookup_env
from tests.streams.conftest import CORPUS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUSHLOG_PATH = "/integration/autoland/json-pushes"

REGISTRY = """\
repositories:
  - name: autoland
    url: https://hg.mozilla.org/integration/autoland
    dvcs_type: hg
"""


@pytest.fixture
async def pushlog_server():
    """Fixture server whose json-pushes serves only the 10 pushes of hg_pushlog.json."""
    pushlog = json.loads((CORPUS / "hg_pushlog.json").read_text(encoding="utf-8"))
    data = FixtureData(pushes={int(push_id): push for push_id, push in pushlog["pushes"].items()})
    server = FixtureServer(data)
    await server.start()
    yield server
    await server.stop()


async def wait_for_polls(server, start_id, count):
    """Wait until ``count`` polls asked for the pushes after ``start_id``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        polls = [
            request
            for request in server.requests
            if request.path == PUSHLOG_PATH and request.query.get("startID") == start_id
        ]
        if len(polls) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} polls after push {start_id}: {server.requests}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_pushlog_ingested_once(database_url, kafka, make_worker, pushlog_server, tmp_path):
    registry = tmp_path / "registry.yml"
    registry.write_text(REGISTRY, encoding="utf-8")
    worker = make_worker(
        database_url,
        REPOSITORY_REGISTRY=str(registry),
        PUSHLOG_POLL_INTERVAL="0.5",
        PULSE_ROOT_URL="https://tc.example.test",
        **lookup_env(pushlog_server.url),
    )
    names = WorkerSettings.from_env(worker.env).topics
    pushlog = json.loads((CORPUS / "hg_pushlog.json").read_text(encoding="utf-8"))
    heads = {push["changesets"][-1]["node"] for push in pushlog["pushes"].values()}
    worker.start()
    await worker.wait_ready()

    # Polls run one after another, so once the third poll started, whatever the second one
    # emitted is already stored.
    await wait_for_polls(pushlog_server, "33277", 2)

    raw = await kafka.read_existing(names.raw_pushes)
    assert len(raw) == 10
    assert {record.key for record in raw} == {b"integration/autoland"}
    headers = {name: value.decode() for name, value in raw[0].headers}
    assert headers["pulse.exchange"] == "exchange/hgpushes/v1"
    assert headers["pulse.routing_key"] == "integration/autoland"
    assert headers["pulse.root_url"] == "https://tc.example.test"

    accepted = await kafka.read(names.accepted_pushes, 10)
    assert {json.loads(record.value)["revision"] for record in accepted} == heads
    stored = await fetch_pushes(database_url)
    assert set(stored) == {("autoland", head) for head in heads}
    first_polls = [request for request in pushlog_server.requests if "startID" not in request.query]
    assert len(first_polls) == 1
    assert worker.stop() == 0

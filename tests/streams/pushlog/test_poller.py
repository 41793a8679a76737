"""Tests of the pushlog poller against the fixture server's json-pushes."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from streams.lookups.client import LookupClient
from streams.lookups.fixture_server import FixtureData, FixtureServer
from streams.lookups.settings import LookupSettings
from streams.pushlog.poller import PushlogPoller
from streams.pushlog.settings import PollerSettings
from streams.registry.repositories import Repository, RepositoryRegistry
from streams.transforms.push import HG_PUSH_V1, transform_push

CORPUS = Path(__file__).resolve().parents[2] / "data" / "treeherder"
AUTOLAND_URL = "https://hg.mozilla.org/integration/autoland"
PUSHLOG = json.loads((CORPUS / "hg_pushlog.json").read_text(encoding="utf-8"))
PUSHLOG_IDS = sorted(int(push_id) for push_id in PUSHLOG["pushes"])


class Recorder:
    """Async emit callable that keeps what it was given; ``fail_at`` makes one push id fail."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, str, dict]] = []
        self.fail_at = fail_at
        self.received = asyncio.Event()

    async def __call__(self, exchange: str, routing_key: str, body: bytes) -> None:
        message = json.loads(body)
        push_id = message["payload"]["pushlog_pushes"][0]["pushid"]
        if push_id == self.fail_at:
            self.fail_at = None
            raise ConnectionError("broker unavailable")
        self.sent.append((exchange, routing_key, message))
        self.received.set()

    def push_ids(self) -> list[int]:
        return [message["payload"]["pushlog_pushes"][0]["pushid"] for _, _, message in self.sent]


@pytest.fixture
def registry():
    return RepositoryRegistry(
        [
            Repository("autoland", AUTOLAND_URL, "hg"),
            Repository("kaios", "https://hg.mozilla.org/projects/kaios", "hg", active=False),
        ]
    )


@pytest.fixture
async def server():
    # Only the pushlog file is served, so json-pushes lists exactly its 10 pushes.
    data = FixtureData(
        pushes={int(push_id): push for push_id, push in PUSHLOG["pushes"].items()}
    )
    fixture = FixtureServer(data)
    await fixture.start()
    yield fixture
    await fixture.stop()


@pytest.fixture
async def lookup(server):
    settings = LookupSettings.for_base_url(server.url, retries=0)
    client = LookupClient(settings, rng=random.Random(1))
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
def make_poller(lookup, registry):
    def build(emit, state_file=None):
        return PushlogPoller(lookup, registry, emit, PollerSettings(state_file=state_file))

    return build


async def test_pushes_emitted_once(make_poller):
    emit = Recorder()
    poller = make_poller(emit)

    first = await poller.poll_once()
    second = await poller.poll_once()

    assert first == 10
    assert second == 0
    assert emit.push_ids() == PUSHLOG_IDS


async def test_second_poll_asks_after_last_id(make_poller, server):
    poller = make_poller(Recorder())

    await poller.poll_once()
    await poller.poll_once()

    queries = [request.query for request in server.requests]
    assert queries == [
        {"version": "2", "full": "1"},
        {"version": "2", "full": "1", "startID": str(PUSHLOG_IDS[-1])},
    ]
    assert {request.path for request in server.requests} == {"/integration/autoland/json-pushes"}


async def test_emitted_message_is_hg_push(make_poller, registry):
    emit = Recorder()

    await make_poller(emit).poll_once()

    exchange, routing_key, message = emit.sent[-1]
    record = transform_push(exchange, message, registry)
    last = PUSHLOG["pushes"][str(PUSHLOG_IDS[-1])]
    assert exchange == HG_PUSH_V1
    assert routing_key == "integration/autoland"
    assert record["revision"] == last["changesets"][-1]["node"]
    assert record["push_timestamp"] == last["date"]
    assert message["payload"]["pushlog_pushes"][0]["push_full_json_url"] == (
        f"{AUTOLAND_URL}/json-pushes?version=2&full=1&startID={PUSHLOG_IDS[-1] - 1}"
        f"&endID={PUSHLOG_IDS[-1]}"
    )


async def test_state_file_survives_restart(make_poller, tmp_path):
    state_file = tmp_path / "pushlog-state.json"
    first = make_poller(Recorder(), state_file)
    await first.poll_once()

    emit = Recorder()
    second = make_poller(emit, state_file)
    second.state.load()
    emitted = await second.poll_once()

    assert emitted == 0
    assert json.loads(state_file.read_text())["last_push_ids"] == {"autoland": PUSHLOG_IDS[-1]}


async def test_unreadable_state_file_ignored(make_poller, tmp_path):
    state_file = tmp_path / "pushlog-state.json"
    state_file.write_text("{not json")
    poller = make_poller(Recorder(), state_file)

    poller.state.load()

    assert await poller.poll_once() == 10


async def test_failed_emit_retried_next_poll(make_poller):
    emit = Recorder(fail_at=PUSHLOG_IDS[4])
    poller = make_poller(emit)

    first = await poller.poll_once()
    second = await poller.poll_once()

    assert first == 4
    assert second == 6
    assert emit.push_ids() == PUSHLOG_IDS


async def test_lookup_failure_skips_repository(make_poller, server, caplog):
    server.add_fault("/integration/autoland/json-pushes", "status", times=1)
    emit = Recorder()
    poller = make_poller(emit)

    failed = await poller.poll_once()
    recovered = await poller.poll_once()

    assert failed == 0
    assert "pushlog poll of autoland failed" in caplog.text
    assert recovered == 10


async def test_malformed_pushlog_skips_repository(make_poller, server):
    server.add_fault("/integration/autoland/json-pushes", "malformed", times=1)

    assert await make_poller(Recorder()).poll_once() == 0


async def test_service_polls_until_stopped(make_poller, tmp_path):
    emit = Recorder()
    state_file = tmp_path / "state.json"
    poller = make_poller(emit, state_file)

    await poller.start()
    await asyncio.wait_for(emit.received.wait(), timeout=30)
    await poller.stop()

    assert emit.push_ids()[0] == PUSHLOG_IDS[0]
    assert state_file.exists()

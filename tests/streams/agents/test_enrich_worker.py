"""Worker subprocess with push enrichment: commit lookups end in the database, failures in the dead-letter topic."""

from __future__ import annotations

import json

import pytest

from streams.config import WorkerSettings
from streams.transforms.push import GITHUB_PULL_REQUEST, GITHUB_PUSH, HG_PUSH_V1
from tests.streams.agents.harness import decode
from tests.streams.agents.lookup_fixtures import fetch_pushes, lookup_env, lookup_server  # noqa: F401
from tests.streams.conftest import CORPUS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

HG_KEY = ("try", "2f77bc4f354d9ba67ea5270b2fc789f4b0521287")
GITHUB_KEY = ("android-components", "5fdb785b28b356f50fc1d9cb180d401bb03fc1f1")
PULL_REQUEST_KEY = ("test_treeherder", "fd561e92727fadb6bac44121941136a1a25b7c1d")

# The sample pull request message names its first commit as event.head.sha, so the push
# accepted from the message alone has another revision than the enriched one, which takes
# the last commit as Treeherder does.
PULL_REQUEST_HEAD_KEY = ("test_treeherder", "6fc29703e82473fa185af2b3c307c5c475038173")


def corpus(name):
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def topics_of(worker):
    return WorkerSettings.from_env(worker.env).topics


def hg_push():
    headers = {"pulse.exchange": HG_PUSH_V1, "pulse.routing_key": "try"}
    return "try", corpus("hg_push.json"), headers


def github_push():
    delivery = corpus("github_push.json")[0]
    headers = {"pulse.exchange": GITHUB_PUSH, "pulse.routing_key": delivery["routingKey"]}
    return "mozilla-mobile/android-components", delivery["payload"], headers


def pull_request():
    headers = {
        "pulse.exchange": GITHUB_PULL_REQUEST,
        "pulse.routing_key": "primary.mozilla.test_treeherder.synchronize",
    }
    return "mozilla/test_treeherder", corpus("github_pr.json"), headers


def enriched_keys(records):
    return {
        (decode(record)["repository"], decode(record)["revision"])
        for record in records
        if decode(record)["enriched"]
    }


@POSTGRESQL
async def test_pushes_stored_with_commits(database_url, kafka, make_worker, lookup_server):
    worker = make_worker(database_url, PUSH_ENRICHMENT="true", **lookup_env(lookup_server.url))
    names = topics_of(worker)
    expected = {
        HG_KEY: corpus("transformed_hg_push.json")["revisions"],
        GITHUB_KEY: corpus("transformed_gh_push.json")["revisions"],
        PULL_REQUEST_KEY: corpus("transformed_gh_pr.json")["revisions"],
    }
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, [hg_push(), github_push(), pull_request()])

    accepted = await kafka.read_until(
        names.accepted_pushes, lambda records: enriched_keys(records) >= set(expected)
    )
    first = {}
    for record in accepted:
        value = decode(record)
        first.setdefault((value["repository"], value["revision"]), value["enriched"])
    assert first == {HG_KEY: False, GITHUB_KEY: False, PULL_REQUEST_HEAD_KEY: False, PULL_REQUEST_KEY: True}

    stored = await fetch_pushes(database_url)
    assert set(stored) == {*expected, PULL_REQUEST_HEAD_KEY}
    assert stored[PULL_REQUEST_HEAD_KEY] == {"enriched": False, "revisions": []}
    for key, revisions in expected.items():
        assert stored[key]["enriched"] is True, key
        assert stored[key]["revisions"] == revisions, key
    assert await kafka.read_existing(names.dead_letter) == []
    assert worker.stop() == 0


@POSTGRESQL
async def test_failed_lookup_leaves_push_accepted(database_url, kafka, make_worker, lookup_server):
    # One partition, so the GitHub push waits behind the failing hg lookup.
    worker = make_worker(
        database_url,
        TOPIC_PARTITIONS="1",
        PUSH_ENRICHMENT="true",
        **lookup_env(lookup_server.url),
    )
    names = topics_of(worker)
    lookup_server.add_fault("/try/json-pushes", "status", status=500)
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, [hg_push(), github_push()])

    (dead,) = [decode(record) for record in await kafka.read(names.dead_letter, 1)]
    assert dead["reason"] == "lookup-failed"
    assert dead["stage"] == "push-enrich"
    assert dead["source"]["topic"] == names.push_enrichment
    assert dead["source"]["key"] == "/".join(HG_KEY)
    await kafka.read_until(names.accepted_pushes, lambda records: GITHUB_KEY in enriched_keys(records))

    stored = await fetch_pushes(database_url)
    assert stored[HG_KEY] == {"enriched": False, "revisions": []}
    assert stored[GITHUB_KEY]["enriched"] is True
    # LOOKUP_RETRIES=2: three attempts before the push is given up.
    assert lookup_server.count("/try/json-pushes") == 3
    assert worker.stop() == 0

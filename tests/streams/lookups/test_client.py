"""Tests of LookupClient against the fixture server: retries, failures, cache and the token."""

from __future__ import annotations

import logging

import pytest

from streams.errors import RejectedMessage, RejectReason, RetriableError
from streams.lookups.client import LookupClient
from streams.lookups.errors import TransientLookupError
from streams.lookups.settings import LookupSettings

from .conftest import TASK_ID, TASK_PATH, corpus

TOKEN = "ghp_fixtureTokenThatMustNotLeak0123456789"
PULL_PATH = "/repos/mozilla/test_treeherder/pulls/1692/commits"
COMPARE_PATH = (
    "/repos/mozilla-mobile/android-components/compare/"
    "7285afe57ae6207fdb5d6db45133dac2053b7820...5fdb785b28b356f50fc1d9cb180d401bb03fc1f1"
)


async def test_get_json_returns_definition(server, lookup):
    body = await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert body == corpus("taskcluster_tasks.json")[TASK_ID]


async def test_500_retried_then_success(server, lookup):
    server.add_fault(TASK_PATH, "status", times=2)

    body = await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert body["metadata"]["owner"] == "user64@example.com"
    assert server.count(TASK_PATH) == 3


async def test_persistent_500_lookup_failed(server, lookup):
    server.add_fault(TASK_PATH, "status", status=503)

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert caught.value.detail["url"] == server.url + TASK_PATH
    assert caught.value.detail["status"] == 503
    assert caught.value.detail["attempts"] == 3
    assert server.count(TASK_PATH) == 3


async def test_429_retried(server, lookup):
    server.add_fault(TASK_PATH, "status", status=429, times=1)

    await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert server.count(TASK_PATH) == 2


async def test_timeout_retried(server, make_lookup):
    lookup = await make_lookup(timeout=0.2)
    server.add_fault(TASK_PATH, "timeout", times=1, delay=30.0)

    body = await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert body["created"] == "2019-06-26T19:13:51.402Z"
    assert server.count(TASK_PATH) == 2


async def test_persistent_timeout_lookup_failed(server, make_lookup):
    lookup = await make_lookup(timeout=0.2, retries=1)
    server.add_fault(TASK_PATH, "timeout", delay=30.0)

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert caught.value.detail["status"] is None
    assert "timed out" in caught.value.message
    assert server.count(TASK_PATH) == 2


async def test_malformed_body_not_retried(server, lookup):
    server.add_fault(TASK_PATH, "malformed", times=1)

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert "not valid JSON" in caught.value.message
    assert server.count(TASK_PATH) == 1


async def test_404_not_retried(server, lookup):
    path = "/api/queue/v1/task/unknownTaskId000000000"

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json(server.url + path, what="task definition")

    assert caught.value.detail["status"] == 404
    assert server.count(path) == 1


async def test_connection_refused_lookup_failed(server, make_lookup):
    lookup = await make_lookup(retries=1)
    url = server.url + TASK_PATH
    await server.stop()

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json(url, what="task definition")

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert caught.value.detail["attempts"] == 2


async def test_cache_hit_skips_request(server, lookup):
    first = await lookup.get_json(server.url + TASK_PATH, what="task definition")
    first["metadata"]["owner"] = "changed by the caller"

    second = await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert server.count(TASK_PATH) == 1
    assert lookup.cache_hits == 1
    assert second["metadata"]["owner"] == "user64@example.com"


async def test_uncached_lookup_repeats_request(server, lookup):
    await lookup.get_json(server.url + TASK_PATH, what="task definition", cache=False)
    await lookup.get_json(server.url + TASK_PATH, what="task definition", cache=False)

    assert server.count(TASK_PATH) == 2


async def test_cache_size_zero_disables_cache(server, make_lookup):
    lookup = await make_lookup(cache_size=0)

    await lookup.get_json(server.url + TASK_PATH, what="task definition")
    await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert server.count(TASK_PATH) == 2


async def test_failed_lookup_not_cached(server, lookup):
    server.add_fault(TASK_PATH, "status", times=3)
    with pytest.raises(RejectedMessage):
        await lookup.get_json(server.url + TASK_PATH, what="task definition")

    body = await lookup.get_json(server.url + TASK_PATH, what="task definition")

    assert body["metadata"]["name"].startswith("test-linux64-qr")


async def test_pages_followed_through_link(server, lookup):
    commits = await lookup.get_json_pages(server.url + PULL_PATH, what="pull request commits")

    assert commits == corpus("github_pr_commits.json")
    assert server.count(PULL_PATH) == 3


async def test_pages_over_limit_lookup_failed(server, make_lookup):
    lookup = await make_lookup(max_pages=2)

    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json_pages(server.url + PULL_PATH, what="pull request commits")

    assert "LOOKUP_MAX_PAGES" in caught.value.message


async def test_page_not_list_lookup_failed(server, lookup):
    with pytest.raises(RejectedMessage) as caught:
        await lookup.get_json_pages(server.url + TASK_PATH, what="pull request commits")

    assert caught.value.reason is RejectReason.LOOKUP_FAILED


async def test_token_sent_to_github_only(server, make_lookup):
    lookup = await make_lookup(github_token=TOKEN)

    await lookup.get_json(server.url + COMPARE_PATH, what="GitHub compare", github=True)
    await lookup.get_json(server.url + TASK_PATH, what="task definition")

    github_request, queue_request = server.requests
    assert github_request.headers.get("Authorization") == f"Bearer {TOKEN}"
    assert "Authorization" not in queue_request.headers


async def test_token_not_in_logs(server, make_lookup, caplog):
    caplog.set_level(logging.DEBUG)
    lookup = await make_lookup(github_token=TOKEN)
    server.add_fault(COMPARE_PATH, "status", status=502)
    server.add_fault(PULL_PATH, "malformed")

    with pytest.raises(RejectedMessage) as compare_error:
        await lookup.get_json(server.url + COMPARE_PATH, what="GitHub compare", github=True)
    with pytest.raises(RejectedMessage) as pages_error:
        await lookup.get_json_pages(
            server.url + PULL_PATH, what="pull request commits", github=True
        )
    await lookup.stop()

    assert "retrying" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in str(compare_error.value)
    assert TOKEN not in str(compare_error.value.detail)
    assert TOKEN not in str(pages_error.value.detail)


def test_settings_repr_hides_token():
    settings = LookupSettings(github_token=TOKEN)

    assert TOKEN not in repr(settings)


async def test_unstarted_client_raises():
    client = LookupClient(LookupSettings())

    with pytest.raises(RuntimeError):
        await client.get_json("http://127.0.0.1:9/none", what="task definition", cache=False)


def test_transient_error_is_retriable():
    error = TransientLookupError("http://127.0.0.1/x", 500, "HTTP 500")

    assert isinstance(error, RetriableError)

"""Tests of fetch_push_commits: the lookups that enrich hg, GitHub push and pull request messages."""

from __future__ import annotations

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.lookups.pushes import fetch_push_commits
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.push import GITHUB_PULL_REQUEST, GITHUB_PUSH, HG_PUSH_V1, transform_push

from .conftest import corpus

COMPARED_FIELDS = ("revision", "author", "push_timestamp", "revisions")


def compared(record):
    return {field: record[field] for field in COMPARED_FIELDS}


@pytest.fixture(scope="module")
def registry():
    return RepositoryRegistry.load()


async def test_hg_push_commits(lookup, registry):
    message = corpus("hg_push.json")

    commits = await fetch_push_commits(lookup, HG_PUSH_V1, message)
    record = transform_push(HG_PUSH_V1, message, registry, commits)

    assert commits == corpus("hg_push_commits.json")
    assert compared(record) == corpus("transformed_hg_push.json")


async def test_hg_url_rewritten_to_override(server, lookup):
    await fetch_push_commits(lookup, HG_PUSH_V1, corpus("hg_push.json"))

    (request,) = server.requests
    assert request.path == "/try/json-pushes"
    assert request.query == {"version": "2", "full": "1", "startID": "136597", "endID": "136598"}


async def test_hg_url_outside_repository_rejected(server, lookup):
    message = corpus("hg_push.json")
    message["payload"]["pushlog_pushes"][0]["push_full_json_url"] = (
        "https://example.invalid/try/json-pushes?version=2&full=1"
    )

    with pytest.raises(RejectedMessage) as caught:
        await fetch_push_commits(lookup, HG_PUSH_V1, message)

    assert caught.value.reason is RejectReason.SCHEMA
    assert server.requests == []


async def test_github_push_compare(lookup, registry):
    message = corpus("github_push.json")[0]["payload"]

    commits = await fetch_push_commits(lookup, GITHUB_PUSH, message)
    record = transform_push(GITHUB_PUSH, message, registry, commits)

    assert commits == corpus("github_push_compare.json")[0]
    assert compared(record) == corpus("transformed_gh_push.json")


async def test_new_branch_push_needs_no_lookup(server, lookup):
    message = corpus("github_push.json")[0]["payload"]
    message["details"]["event.base.sha"] = "0" * 40

    assert await fetch_push_commits(lookup, GITHUB_PUSH, message) is None
    assert server.requests == []


async def test_pull_request_all_pages(server, lookup, registry):
    message = corpus("github_pr.json")

    commits = await fetch_push_commits(lookup, GITHUB_PULL_REQUEST, message)
    record = transform_push(GITHUB_PULL_REQUEST, message, registry, commits)

    assert commits == corpus("github_pr_commits.json")
    assert server.count("/repos/mozilla/test_treeherder/pulls/1692/commits") == 3
    assert compared(record) == corpus("transformed_gh_pr.json")


async def test_pull_request_commits_not_cached(server, lookup):
    message = corpus("github_pr.json")

    await fetch_push_commits(lookup, GITHUB_PULL_REQUEST, message)
    await fetch_push_commits(lookup, GITHUB_PULL_REQUEST, message)

    assert server.count("/repos/mozilla/test_treeherder/pulls/1692/commits") == 6


async def test_compare_not_object_lookup_failed(server, lookup):
    message = corpus("github_push.json")[0]["payload"]
    path = (
        "/repos/mozilla-mobile/android-components/compare/"
        f"{message['details']['event.base.sha']}...{message['details']['event.head.sha']}"
    )
    server.data.compares[
        ("mozilla-mobile", "android-components", message["details"]["event.base.sha"],
         message["details"]["event.head.sha"])
    ] = ["not", "an", "object"]

    with pytest.raises(RejectedMessage) as caught:
        await fetch_push_commits(lookup, GITHUB_PUSH, message)

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert server.count(path) == 1

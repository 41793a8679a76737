"""Tests of transform_push against Treeherder's sample pushes and the push rules."""

from __future__ import annotations

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import Repository, RepositoryRegistry
from streams.transforms.push import (
    GITHUB_PULL_REQUEST,
    GITHUB_PUSH,
    HG_PUSH_V1,
    HG_PUSH_V2,
    commit_lookup_request,
    push_kind,
    transform_push,
)
from streams.validation.validator import get_validator

COMPARED_FIELDS = ("revision", "author", "push_timestamp", "revisions")
NULL_SHA = "0" * 40


def compared(record):
    return {field: record[field] for field in COMPARED_FIELDS}


@pytest.fixture
def hg_push(corpus):
    return corpus("hg_push.json")


@pytest.fixture
def github_push(corpus):
    return corpus("github_push.json")[0]["payload"]


@pytest.fixture
def github_pr(corpus):
    return corpus("github_pr.json")


@pytest.mark.parametrize(
    "exchange, kind",
    [
        (HG_PUSH_V1, "hg"),
        (HG_PUSH_V2, "hg"),
        (GITHUB_PUSH, "github-push"),
        (GITHUB_PULL_REQUEST, "github-pull-request"),
    ],
)
def test_push_kind(exchange, kind):
    assert push_kind(exchange) == kind


@pytest.mark.parametrize(
    "exchange",
    ["meh", "exchange/taskcluster-github/v1/release", "exchange/taskcluster-queue/v1/task-pending"],
)
def test_push_kind_unsupported(exchange):
    with pytest.raises(RejectedMessage) as caught:
        push_kind(exchange)

    assert caught.value.reason is RejectReason.UNSUPPORTED_EXCHANGE


def test_hg_enriched_matches_treeherder(hg_push, corpus, registry):
    record = transform_push(HG_PUSH_V1, hg_push, registry, corpus("hg_push_commits.json"))

    assert compared(record) == corpus("transformed_hg_push.json")
    assert record["repository"] == "try"
    assert record["enriched"] is True
    assert record["branch"] is None
    assert record["kind"] == "hg"


def test_hg_without_lookup(hg_push, registry):
    record = transform_push(HG_PUSH_V1, hg_push, registry)

    assert record["revision"] == "2f77bc4f354d9ba67ea5270b2fc789f4b0521287"
    assert record["author"] == "user10@example.com"
    assert record["push_timestamp"] == 14698302460
    assert record["revisions"] == []
    assert record["enriched"] is False


def test_hg_v2_changegroup(hg_push, corpus, registry):
    message = {"payload": {"type": "changegroup.1", "data": {**hg_push["payload"], "source": "push"}}}

    record = transform_push(HG_PUSH_V2, message, registry, corpus("hg_push_commits.json"))

    assert compared(record) == corpus("transformed_hg_push.json")


@pytest.mark.parametrize("message_type", ["newrepo.1", "obsolete.1", "something.9"])
def test_hg_v2_other_types(message_type, registry):
    message = {"payload": {"type": message_type, "data": {"repo_url": "https://hg.mozilla.org/try"}}}

    with pytest.raises(RejectedMessage) as caught:
        transform_push(HG_PUSH_V2, message, registry)

    assert caught.value.reason is RejectReason.UNSUPPORTED_MESSAGE_TYPE


def test_hg_known_repository(hg_push, registry):
    hg_push["payload"]["repo_url"] = "https://hg.mozilla.org/mozilla-central"

    assert transform_push(HG_PUSH_V1, hg_push, registry)["repository"] == "mozilla-central"


def test_hg_unknown_repository(hg_push, registry):
    hg_push["payload"]["repo_url"] = "https://bad.repo.com"

    with pytest.raises(RejectedMessage) as caught:
        transform_push(HG_PUSH_V1, hg_push, registry)

    assert caught.value.reason is RejectReason.UNKNOWN_REPOSITORY


@pytest.mark.parametrize(
    "response",
    [
        {"lastpushid": 1},
        {"pushes": {}},
        {"pushes": {"1": {"changesets": [], "date": 1, "user": "u"}}},
        {"pushes": {"1": {"changesets": [{"node": 5}], "date": 1, "user": "u"}}},
        [],
        "text",
    ],
)
def test_hg_bad_lookup(response, hg_push, registry):
    with pytest.raises(RejectedMessage) as caught:
        transform_push(HG_PUSH_V1, hg_push, registry, response)

    assert caught.value.reason is RejectReason.LOOKUP_FAILED


def test_hg_revisions_capped(hg_push, corpus, registry):
    response = corpus("hg_push_commits.json")
    push = response["pushes"]["136598"]
    template = push["changesets"][0]
    push["changesets"] = [dict(template, node=f"{index:040x}") for index in range(250)]

    record = transform_push(HG_PUSH_V1, hg_push, registry, response)

    assert len(record["revisions"]) == 200
    assert record["revisions"][0]["revision"] == f"{50:040x}"
    assert record["revision"] == f"{249:040x}"


def test_github_push_matches_treeherder(github_push, corpus, registry):
    compare = corpus("github_push_compare.json")[0]

    record = transform_push(GITHUB_PUSH, github_push, registry, compare)

    assert compared(record) == corpus("transformed_gh_push.json")
    assert record["repository"] == "android-components"
    assert record["enriched"] is True
    assert record["branch"] is None


def test_github_push_without_lookup(github_push, registry):
    record = transform_push(GITHUB_PUSH, github_push, registry)

    assert record["revision"] == "5fdb785b28b356f50fc1d9cb180d401bb03fc1f1"
    assert record["author"] == "user6@example.com"
    assert record["push_timestamp"] == 1581521352
    assert record["enriched"] is False


def test_github_merge_push(corpus, registry):
    delivery = corpus("github_push.json")[1]
    compare = corpus("github_push_compare.json")[1]

    record = transform_push(GITHUB_PUSH, delivery["payload"], registry, compare)

    assert record["repository"] == "servo-try"
    assert record["revision"] == "ad9bfc2a62b70b9f3dbb1c3a5969f30bacce3d74"


def test_github_new_branch(github_push, registry):
    github_push["details"]["event.base.sha"] = NULL_SHA

    record = transform_push(GITHUB_PUSH, github_push, registry)

    commits = github_push["body"]["commits"]
    assert record["revision"] == commits[-1]["id"]
    assert [item["revision"] for item in record["revisions"]] == [c["id"] for c in commits]
    assert record["author"] == commits[-1]["author"]["email"]
    assert record["enriched"] is True


def test_github_new_branch_needs_no_lookup(github_push):
    github_push["details"]["event.base.sha"] = NULL_SHA

    assert commit_lookup_request(GITHUB_PUSH, github_push) is None


def test_github_deleted_branch(github_push, registry):
    github_push["details"]["event.head.sha"] = NULL_SHA

    with pytest.raises(RejectedMessage) as caught:
        transform_push(GITHUB_PUSH, github_push, registry)

    assert caught.value.reason is RejectReason.UNSUPPORTED_MESSAGE_TYPE


def test_github_unknown_repository(github_push, registry):
    github_push["details"]["event.head.repo.url"] = "https://bad.repo.com"

    with pytest.raises(RejectedMessage) as caught:
        transform_push(GITHUB_PUSH, github_push, registry)

    assert caught.value.reason is RejectReason.UNKNOWN_REPOSITORY


def test_github_tag_push(github_push):
    registry = RepositoryRegistry(
        [Repository("tagged", "https://github.com/mozilla-mobile/android-components", "git", ("*",))]
    )
    github_push["details"]["event.head.tag"] = "v1.0"

    record = transform_push(GITHUB_PUSH, github_push, registry)

    assert record["branch"] == "tag"


def test_github_wildcard_records_branch(github_push):
    registry = RepositoryRegistry(
        [Repository("any", "https://github.com/mozilla-mobile/android-components", "git", ("*",))]
    )

    record = transform_push(GITHUB_PUSH, github_push, registry)

    assert record["branch"] == "master"


def test_pull_request_matches_treeherder(github_pr, corpus, registry):
    commits = corpus("github_pr_commits.json")

    record = transform_push(GITHUB_PULL_REQUEST, github_pr, registry, commits)

    assert compared(record) == corpus("transformed_gh_pr.json")
    assert record["repository"] == "test_treeherder"
    assert record["kind"] == "github-pull-request"


def test_pull_request_without_lookup(github_pr, registry):
    record = transform_push(GITHUB_PULL_REQUEST, github_pr, registry, received_at=1_700_000_000)

    assert record["revision"] == "6fc29703e82473fa185af2b3c307c5c475038173"
    assert record["author"] == "user1@example.com"
    assert record["push_timestamp"] == 1_700_000_000
    assert record["enriched"] is False


def test_pull_request_lookup_url(github_pr):
    request = commit_lookup_request(GITHUB_PULL_REQUEST, github_pr)

    assert request.url == "https://api.github.com/repos/mozilla/test_treeherder/pulls/1692/commits"
    assert request.paginated is True


def test_pull_request_bad_lookup(github_pr, registry):
    with pytest.raises(RejectedMessage) as caught:
        transform_push(GITHUB_PULL_REQUEST, github_pr, registry, {"commits": []})

    assert caught.value.reason is RejectReason.LOOKUP_FAILED


@pytest.mark.parametrize(
    "exchange, name, lookup",
    [
        (HG_PUSH_V1, "hg_push.json", "hg_push_commits.json"),
        (GITHUB_PULL_REQUEST, "github_pr.json", "github_pr_commits.json"),
    ],
)
def test_record_matches_schema(exchange, name, lookup, corpus, registry):
    record = transform_push(exchange, corpus(name), registry, corpus(lookup))

    assert get_validator("push-record").errors(record) == []


def test_message_not_mutated(github_push, corpus, registry):
    before = corpus("github_push.json")[0]["payload"]

    transform_push(GITHUB_PUSH, github_push, registry, corpus("github_push_compare.json")[0])

    assert github_push == before

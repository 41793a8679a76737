"""Tests of the repository registry: loading, lookups and branch rules."""

from __future__ import annotations

import pytest

from streams.errors import ConfigurationError, RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry, normalize_url

GITHUB_URL = "https://github.com/mozilla/test_treeherder"


def reason_of(call, *args):
    with pytest.raises(RejectedMessage) as caught:
        call(*args)
    return caught.value.reason


@pytest.mark.parametrize(
    "branch, accepted",
    [("master", True), ("bar", True), ("foo", True), ("baz", False)],
)
def test_explicit_branches(branch, accepted, make_registry):
    registry = make_registry(("test_treeherder", "master", "foo", "bar"))

    if accepted:
        assert registry.resolve_github_push(GITHUB_URL, branch)[0].name == "test_treeherder"
    else:
        assert reason_of(registry.resolve_github_push, GITHUB_URL, branch) is (
            RejectReason.UNKNOWN_REPOSITORY
        )


def test_star_records_branch(make_registry):
    registry = make_registry(("any", "*"))

    assert registry.resolve_github_push(GITHUB_URL, "feature-x") == (registry.by_name("any"), "feature-x")


def test_exact_branch_not_recorded(make_registry):
    registry = make_registry(("main-only", "master"))

    assert registry.resolve_github_push(GITHUB_URL, "master")[1] is None


def test_exact_beats_star(make_registry):
    registry = make_registry(("catch-all", "*"), ("main-only", "master"))

    repository, branch = registry.resolve_github_push(GITHUB_URL, "master")

    assert repository.name == "main-only"
    assert branch is None


def test_star_special_characters(make_registry):
    registry = make_registry(("any", "*"))

    assert registry.resolve_github_push(GITHUB_URL, "release/v1.2+hotfix")[1] == (
        "release/v1.2+hotfix"
    )


def test_prefix_wildcard_accepts(make_registry):
    registry = make_registry(("releases", "releases/*"))

    assert registry.resolve_github_push(GITHUB_URL, "releases/v1.2") == (
        registry.by_name("releases"),
        "releases/v1.2",
    )


def test_prefix_wildcard_rejects(make_registry):
    registry = make_registry(("releases", "releases/*"))

    assert reason_of(registry.resolve_github_push, GITHUB_URL, "master") is (
        RejectReason.UNKNOWN_REPOSITORY
    )


def test_two_wildcards_ambiguous(make_registry):
    registry = make_registry(("catch-all", "*"), ("releases", "releases/*"))

    assert reason_of(registry.resolve_github_push, GITHUB_URL, "releases/v1.2") is (
        RejectReason.AMBIGUOUS_BRANCH
    )


def test_two_exact_ambiguous(make_registry):
    registry = make_registry(("first", "master"), ("second", "master"))

    assert reason_of(registry.resolve_github_push, GITHUB_URL, "master") is (
        RejectReason.AMBIGUOUS_BRANCH
    )


@pytest.mark.parametrize("rules, expected_branch", [(("*",), "tag"), (("tag",), None)])
def test_tag_push(rules, expected_branch, make_registry):
    registry = make_registry(("tags", *rules))

    assert registry.resolve_github_push(GITHUB_URL, "tag")[1] == expected_branch


def test_tag_rejected_without_rule(make_registry):
    registry = make_registry(("main-only", "master"))

    assert reason_of(registry.resolve_github_push, GITHUB_URL, "tag") is (
        RejectReason.UNKNOWN_REPOSITORY
    )


def test_pull_request_repository(make_registry, make_repository):
    registry = make_registry(
        ("pushes-only", "master"),
        make_repository("pull-requests", "main", accepts_pull_requests=True),
    )

    assert registry.resolve_pull_request(GITHUB_URL + ".git").name == "pull-requests"


def test_pull_request_not_accepted(make_registry):
    registry = make_registry(("pushes-only", "master"))

    assert reason_of(registry.resolve_pull_request, GITHUB_URL) is RejectReason.UNKNOWN_REPOSITORY


def test_hg_ignores_wildcard_repository(make_repository):
    url = "https://hg.mozilla.org/mozilla-central"
    registry = RepositoryRegistry(
        [
            make_repository("mozilla-central", url=url, dvcs_type="hg"),
            make_repository("mirror", "*", url=url, dvcs_type="hg"),
        ]
    )

    assert registry.resolve_hg(url).name == "mozilla-central"


def test_hg_unknown_url(make_registry):
    registry = make_registry(("test_treeherder", "master"))

    assert reason_of(registry.resolve_hg, "https://bad.repo.com") is RejectReason.UNKNOWN_REPOSITORY


def test_inactive_url(make_repository):
    registry = RepositoryRegistry([make_repository("old", "master", active=False)])

    assert reason_of(registry.resolve_github_push, GITHUB_URL, "master") is (
        RejectReason.INACTIVE_REPOSITORY
    )


@pytest.mark.parametrize(
    "name, reason",
    [("missing", RejectReason.UNKNOWN_REPOSITORY), ("old", RejectReason.INACTIVE_REPOSITORY)],
)
def test_by_name_rejected(name, reason, make_repository):
    registry = RepositoryRegistry([make_repository("old", "master", active=False)])

    assert reason_of(registry.by_name, name) is reason


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/servo/servo.git", "https://github.com/servo/servo"),
        ("https://github.com/servo/servo/", "https://github.com/servo/servo"),
        ("https://github.com/servo/servo.git/", "https://github.com/servo/servo"),
        ("https://github.com/user/user.github.io", "https://github.com/user/user.github.io"),
        ("https://hg.mozilla.org/try", "https://hg.mozilla.org/try"),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "name",
    [
        "try",
        "autoland",
        "mozilla-central",
        "mozilla-inbound",
        "mozilla-beta",
        "mozilla-release",
        "comm-central",
        "android-components",
        "servo-try",
        "test_treeherder",
    ],
)
def test_default_registry_names(name):
    assert RepositoryRegistry.load().by_name(name).name == name


def test_default_pull_requests():
    registry = RepositoryRegistry.load()

    assert registry.resolve_pull_request(GITHUB_URL + ".git").name == "test_treeherder"


def test_active_hg_repositories():
    names = {repository.name for repository in RepositoryRegistry.load().active_hg_repositories()}

    assert "mozilla-central" in names
    assert "android-components" not in names
    assert "kaios" not in names


def test_load_custom_file(tmp_path):
    path = tmp_path / "registry.yml"
    path.write_text(
        "repositories:\n"
        "  - {name: local, url: 'https://example.com/repo', dvcs_type: git, branch_rules: ['*']}\n",
        encoding="utf-8",
    )

    registry = RepositoryRegistry.load(path)

    assert registry.by_name("local").branch_rules == ("*",)


@pytest.mark.parametrize(
    "text",
    [
        "not: [a, registry]",
        "repositories: [{name: x, url: u}]",
        "repositories: [{name: x, url: u, dvcs_type: svn}]",
        "repositories: [{name: x, url: u, dvcs_type: git, colour: blue}]",
        "repositories: [{name: x, url: u, dvcs_type: git, active: 'yes'}]",
        "repositories: [{name: x, url: u, dvcs_type: hg}, {name: x, url: v, dvcs_type: hg}]",
        "repositories: [{name: x, url: u, dvcs_type: hg}, {name: y, url: u, dvcs_type: hg}]",
        "repositories: [: bad",
    ],
)
def test_load_invalid_file(text, tmp_path):
    path = tmp_path / "registry.yml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        RepositoryRegistry.load(path)

    assert caught.value.variable == "REPOSITORY_REGISTRY"


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigurationError):
        RepositoryRegistry.load(tmp_path / "absent.yml")

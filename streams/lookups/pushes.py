"""Commit lookups that enrich push messages: hg json-pushes, GitHub compare and PR commits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.errors import RejectedMessage, RejectReason
from streams.lookups.client import LookupClient
from streams.lookups.errors import lookup_failed
from streams.lookups.urls import github_url, hg_url
from streams.registry.repositories import normalize_url
from streams.transforms.commits import CommitLookup
from streams.transforms.push import HG_PUSH_V2, commit_lookup_request
from streams.validation.detail import make_detail

logger = logging.getLogger(__name__)


async def fetch_push_commits(
    lookup: LookupClient, exchange: str, message: dict[str, Any]
) -> CommitLookup | None:
    """Fetch the commit list that ``transform_push(..., commits=...)`` takes for this push.

    Returns the json-pushes object for hg, the compare object for a GitHub push, the list of
    every pull request commit (all pages) for a pull request, and None for a GitHub push that
    needs no lookup. Call it after ``transform_push`` accepted the message. Raises
    RejectedMessage: LOOKUP_FAILED for failed lookups and malformed responses, SCHEMA for a
    json-pushes URL outside the pushed repository, or what ``commit_lookup_request`` raises.
    """
    request = commit_lookup_request(exchange, message)
    if request is None:
        return None

    if request.kind == "hg":
        _check_hg_url(exchange, message, request.url)
        url = hg_url(request.url, lookup.settings)
        # A json-pushes range of one push id never changes, so it is cached.
        return _expect_object(await lookup.get_json(url, what="json-pushes"), "json-pushes", url)

    url = github_url(request.url, lookup.settings)

    if request.kind == "github-push":
        # NOTE: GitHub's compare response lists at most 250 commits; longer pushes are not
        # followed to later pages.
        body = await lookup.get_json(url, what="GitHub compare", github=True)
        return _expect_object(body, "GitHub compare", url)

    return await lookup.get_json_pages(url, what="pull request commits", github=True)


def _check_hg_url(exchange: str, message: Mapping[str, Any], url: str) -> None:
    # The URL comes from the message, so only json-pushes of the pushed repository is fetched.
    payload = message["payload"]
    if exchange == HG_PUSH_V2:
        payload = payload["data"]
    repo_url = normalize_url(str(payload["repo_url"]))

    if not url.startswith(f"{repo_url}/json-pushes"):
        detail = make_detail(
            ["payload", "pushlog_pushes", 0, "push_full_json_url"],
            "same-repository",
            url,
            f"json-pushes URL is not below the repository URL {repo_url}",
        )
        raise RejectedMessage(
            RejectReason.SCHEMA,
            f"push_full_json_url {url} is not below the repository URL {repo_url}",
            [detail],
        )


def _expect_object(body: Any, what: str, url: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise lookup_failed(what, url, f"expected a JSON object, got {type(body).__name__}")
    return body

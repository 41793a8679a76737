"""hg-push-v1 messages built from pushlog entries, so polled pushes take the normal push path."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from streams.lookups.urls import json_pushes_range_url
from streams.registry.repositories import Repository, normalize_url
from streams.transforms.push import HG_PUSH_V1

POLLER_SOURCE = "pushlog-poller"
"""Value of ``_meta.source`` in messages the poller builds."""


def routing_key(repository: Repository) -> str:
    """Return hg.mozilla.org's routing key of a repository: its URL path, e.g. ``try``."""
    return urlsplit(normalize_url(repository.url)).path.strip("/")


def hg_push_message(
    repository: Repository, push_id: int, push: Mapping[str, Any], sent: datetime | None = None
) -> dict[str, Any]:
    """Build the ``exchange/hgpushes/v1`` body of one json-pushes (version 2, full) entry.

    The push's last changeset is its head. ``push`` must have at least one changeset.
    """
    repo_url = normalize_url(repository.url)
    moment = sent if sent is not None else datetime.now(UTC)

    return {
        "payload": {
            "repo_url": repo_url,
            "heads": [push["changesets"][-1]["node"]],
            "pushlog_pushes": [
                {
                    "pushid": push_id,
                    "time": push["date"],
                    "user": push["user"],
                    "push_json_url": json_pushes_range_url(repo_url, push_id, full=False),
                    "push_full_json_url": json_pushes_range_url(repo_url, push_id),
                }
            ],
            "_meta": {
                "exchange": HG_PUSH_V1,
                "routing_key": routing_key(repository),
                "sent": moment.isoformat(),
                "serializer": "json",
                "source": POLLER_SOURCE,
            },
        }
    }

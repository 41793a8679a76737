"""Taskcluster queue lookups: task definitions and run artifact lists with continuation pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.lookups.client import LookupClient
from streams.lookups.errors import lookup_failed
from streams.lookups.urls import artifacts_url, task_definition_url

logger = logging.getLogger(__name__)


async def fetch_task_definition(
    lookup: LookupClient, root_url: str, task_id: str
) -> dict[str, Any]:
    """Return the definition of ``task_id`` from the queue of ``root_url`` (cached).

    Raises RejectedMessage(LOOKUP_FAILED) when the queue does not return a JSON object.
    """
    url = task_definition_url(root_url, task_id, lookup.settings)
    definition = await lookup.get_json(url, what="task definition")

    if not isinstance(definition, dict):
        raise lookup_failed(
            "task definition", url, f"expected a JSON object, got {type(definition).__name__}"
        )
    return definition


async def list_artifacts(
    lookup: LookupClient, root_url: str, task_id: str, run_id: int
) -> list[dict[str, Any]]:
    """Return every artifact of a run, following ``continuationToken`` through all pages.

    Call it only for a finished run, because the pages are cached. Raises
    RejectedMessage(LOOKUP_FAILED) for a malformed page or more than LOOKUP_MAX_PAGES pages.
    """
    artifacts: list[dict[str, Any]] = []
    token: str | None = None

    for _ in range(lookup.settings.max_pages):
        url = artifacts_url(root_url, task_id, run_id, lookup.settings, token)
        page = await lookup.get_json(url, what="artifact list")

        artifacts.extend(_page_artifacts(page, url))

        token = page.get("continuationToken")
        if not token:
            logger.debug("task %s run %d has %d artifacts", task_id, run_id, len(artifacts))
            return artifacts
        if not isinstance(token, str):
            raise lookup_failed("artifact list", url, "continuationToken is not a string")

    raise lookup_failed(
        "artifact list",
        artifacts_url(root_url, task_id, run_id, lookup.settings),
        f"more than {lookup.settings.max_pages} pages (LOOKUP_MAX_PAGES)",
    )


def _page_artifacts(page: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(page, Mapping) or not isinstance(page.get("artifacts"), list):
        raise lookup_failed("artifact list", url, "expected an object with an 'artifacts' list")

    listed = page["artifacts"]
    for artifact in listed:
        if not isinstance(artifact, Mapping) or not isinstance(artifact.get("name"), str):
            raise lookup_failed("artifact list", url, "an artifact has no 'name' string")
    return [dict(artifact) for artifact in listed]

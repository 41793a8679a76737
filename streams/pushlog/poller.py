"""PushlogPoller: a service that polls json-pushes of every active hg repository on a schedule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from streams.errors import RejectedMessage
from streams.lookups.client import LookupClient
from streams.lookups.errors import lookup_failed
from streams.lookups.urls import hg_url, json_pushes_url
from streams.pushlog.messages import hg_push_message, routing_key
from streams.pushlog.settings import PollerSettings
from streams.pushlog.state import PushlogState
from streams.registry.repositories import Repository, RepositoryRegistry
from streams.transforms.push import HG_PUSH_V1

logger = logging.getLogger(__name__)

Emit = Callable[[str, str, bytes], Awaitable[None]]
"""Sends one message: ``emit(exchange, routing_key, body_bytes)``."""


class PushlogPoller:
    """Emit, as hg-push-v1 messages, the pushes of active hg repositories not emitted before.

    The first poll of a repository takes the last 10 pushes that json-pushes returns; later
    polls ask for pushes after the last handled id. Pushes are emitted oldest first, and a
    push id is recorded only after its ``emit`` returned, so a failed send is retried on the
    next poll. ``start`` polls at once and then every ``settings.interval`` seconds.
    """

    def __init__(
        self,
        lookup: LookupClient,
        registry: RepositoryRegistry,
        emit: Emit,
        settings: PollerSettings | None = None,
    ) -> None:
        self.settings = settings if settings is not None else PollerSettings()
        self.state = PushlogState(self.settings.state_file)
        self._lookup = lookup
        self._registry = registry
        self._emit = emit
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the state file and start polling in a background task."""
        if self._task is not None:
            return
        self.state.load()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="pushlog-poller")
        logger.info("pushlog poller started, polling every %.0f s", self.settings.interval)

    async def stop(self) -> None:
        """Stop polling, waiting for a poll in progress to be cancelled, and save the state."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.state.save()
        logger.info("pushlog poller stopped")

    async def poll_once(self) -> int:
        """Poll every active hg repository once and return how many pushes were emitted.

        A repository whose lookup fails is logged and skipped until the next poll.
        """
        emitted = 0
        for repository in self._registry.active_hg_repositories():
            try:
                emitted += await self.poll_repository(repository)
            except RejectedMessage as error:
                logger.warning("pushlog poll of %s failed: %s", repository.name, error.message)

        self.state.save()
        return emitted

    async def poll_repository(self, repository: Repository) -> int:
        """Emit the new pushes of one repository and return how many were emitted."""
        last_id = self.state.last_push_id(repository.name)
        url = hg_url(json_pushes_url(repository.url, last_id), self._lookup.settings)
        response = await self._lookup.get_json(url, what="pushlog", cache=False)

        emitted = 0
        for push_id, push in _new_pushes(response, url, last_id):
            if not push.get("changesets"):
                # A push can list no changesets, and then it has no head revision to emit.
                logger.debug("push %d of %s has no changesets; skipped", push_id, repository.name)
                self.state.record(repository.name, push_id)
                continue

            body = json.dumps(hg_push_message(repository, push_id, push)).encode("utf-8")
            try:
                await self._emit(HG_PUSH_V1, routing_key(repository), body)
            except Exception as error:
                logger.warning(
                    "emitting push %d of %s failed; the next poll retries it: %r",
                    push_id,
                    repository.name,
                    error,
                )
                break

            self.state.record(repository.name, push_id)
            emitted += 1

        if emitted:
            logger.info("pushlog poll of %s emitted %d pushes", repository.name, emitted)
        return emitted

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pushlog poll failed unexpectedly; the next poll runs as usual")

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.interval)


def _new_pushes(
    response: Any, url: str, last_id: int | None
) -> list[tuple[int, Mapping[str, Any]]]:
    """List the pushes after ``last_id`` in a json-pushes (version 2) response, oldest first."""
    pushes = response.get("pushes") if isinstance(response, Mapping) else None
    if not isinstance(pushes, Mapping):
        raise lookup_failed("pushlog", url, "expected an object with a 'pushes' object")

    found: list[tuple[int, Mapping[str, Any]]] = []
    for key, push in pushes.items():
        if not str(key).isdigit() or not _is_push(push):
            raise lookup_failed("pushlog", url, f"push {str(key)[:50]!r} is malformed")
        push_id = int(key)
        if last_id is None or push_id > last_id:
            found.append((push_id, push))

    found.sort(key=lambda entry: entry[0])
    return found


def _is_push(push: Any) -> bool:
    if not isinstance(push, Mapping):
        return False
    if not isinstance(push.get("date"), int) or not isinstance(push.get("user"), str):
        return False
    changesets = push.get("changesets")
    return isinstance(changesets, list) and all(
        isinstance(changeset, Mapping) and isinstance(changeset.get("node"), str)
        for changeset in changesets
    )

"""Pushlog poller inside the worker: a leader-only Faust timer that sends polled pushes to the raw push topic."""

from __future__ import annotations

import asyncio
import logging

import faust

from streams.agents.publish import Publisher
from streams.pushlog.poller import PushlogPoller

logger = logging.getLogger(__name__)


class RawPushEmitter:
    """The poller's ``emit``: writes a record the way the bridge writes an hg push.

    The key is the routing key (the repository path), and the headers are `pulse.exchange`,
    `pulse.routing_key` and `pulse.root_url`, so the push ingest agent handles it like a
    relayed Pulse message.
    """

    def __init__(self, output: Publisher, root_url: str) -> None:
        self._output = output
        self._root_url = root_url

    async def __call__(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Send one polled push body and wait for the broker to store it."""
        headers = {
            "pulse.exchange": exchange,
            "pulse.routing_key": routing_key,
            "pulse.root_url": self._root_url,
        }
        await self._output.publish(
            routing_key, body, context=f"pushlog poll of {routing_key}", headers=headers
        )


def install_pushlog_timer(app: faust.App, poller: PushlogPoller) -> None:
    """Poll every ``poller.settings.interval`` seconds, on the leader worker only.

    Only one worker of the group polls, so each push is emitted once per group. The state
    file is read before the first poll.
    NOTE: A Faust timer sleeps one interval before its first run, so the first poll comes
    one PUSHLOG_POLL_INTERVAL after the worker started.
    """
    loaded = False

    @app.timer(poller.settings.interval, on_leader=True, name="pushlog-poll")
    async def poll_pushlog() -> None:
        nonlocal loaded
        if not loaded:
            poller.state.load()
            loaded = True

        try:
            emitted = await poller.poll_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("pushlog poll failed unexpectedly; the next poll runs as usual")
            return

        logger.info("pushlog poll emitted %d pushes", emitted)

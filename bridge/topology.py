"""Declaration of one listener's queue and bindings, and removal of bindings no longer configured.

Pulse exchanges belong to their publishers, so the bridge only checks them with a
passive declare and binds its queue to those passive ``Exchange`` objects. The
bridge runs its own consume loop instead of kombu's ``Consumer``, so nothing
re-declares an exchange actively on reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Queue, binding

from bridge.binding_store import BindingStore
from bridge.config import ListenerConfig
from bridge.errors import MissingExchangeError
from bridge.sources import Binding

logger = logging.getLogger(__name__)


class QueueTopology:
    """Declares a listener's durable queue and keeps its bindings equal to the configured set."""

    def __init__(self, config: ListenerConfig, store: BindingStore) -> None:
        self._config = config
        self._store = store
        self._exchanges = {
            name: Exchange(name, type="topic", durable=True, passive=True)
            for name in dict.fromkeys(item.exchange for item in config.bindings)
        }

    def declare(self, connection: Connection) -> int:
        """Check the exchanges, declare and bind the queue, prune stale bindings; return the queue depth."""
        config = self._config
        channel = connection.channel()
        try:
            for name, exchange in self._exchanges.items():
                try:
                    exchange(channel).declare()
                except NotFound:
                    raise MissingExchangeError(name, config.url.vhost) from None

            queue = Queue(
                config.queue,
                bindings=[binding(self._exchanges[item.exchange], routing_key=item.routing_key) for item in config.bindings],
                durable=True,
                auto_delete=config.auto_delete,
            )
            queue(channel).declare()
            for item in config.bindings:
                logger.info(
                    "bound queue %s to exchange %s with routing key %s", config.queue, item.exchange, item.routing_key
                )

            _, depth, _ = channel.queue_declare(queue=config.queue, passive=True)
        finally:
            _close_quietly(channel)

        self._prune(connection)
        return depth

    def _prune(self, connection: Connection) -> None:
        """Unbind the remembered bindings that are no longer configured, then remember the current set."""
        current = frozenset(self._config.bindings)
        previous = self._store.load()
        stale = sorted(previous - current)

        # Remember both sets first, so a crash during pruning retries the stale ones next time.
        self._store.save(previous | current)
        if not stale:
            return

        channel = connection.channel()
        try:
            for item in stale:
                channel = self._unbind(connection, channel, item)
        finally:
            _close_quietly(channel)

        self._store.save(current)

    def _unbind(self, connection: Connection, channel: Any, item: Binding) -> Any:
        """Remove one binding and return a usable channel, a new one when the broker closed the old one."""
        queue = self._config.queue
        try:
            channel.queue_unbind(queue=queue, exchange=item.exchange, routing_key=item.routing_key)
            logger.info(
                "unbound queue %s from exchange %s with routing key %s (no longer configured)",
                queue,
                item.exchange,
                item.routing_key,
            )
        except NotFound as error:
            # The exchange or queue is gone, and the binding with it.
            logger.info(
                "binding of queue %s to exchange %s with routing key %s is already gone: %s",
                queue,
                item.exchange,
                item.routing_key,
                error,
            )
            channel = connection.channel()
        return channel


def _close_quietly(channel: Any) -> None:
    """Close a channel that may already have been closed by the broker."""
    try:
        channel.close()
    except Exception as error:  # noqa: BLE001 - closing is best effort; the connection may be gone.
        logger.debug("closing AMQP channel failed: %s", error)

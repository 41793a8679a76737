"""Raw baseline: how fast a bare kombu consumer drains a queue, acking every message."""

from __future__ import annotations

import logging
import socket
import time

from kombu import Connection, Consumer, Exchange, Queue

from bridge.publish import OutgoingMessage, publish_messages
from bridge.urls import PulseUrl

logger = logging.getLogger(__name__)


def _connect(url: PulseUrl) -> Connection:
    return Connection(
        hostname=url.host,
        port=url.port,
        userid=url.user,
        password=url.password,
        virtual_host=url.vhost,
        ssl=url.ssl,
        connect_timeout=10,
    )


def measure_kombu_consumer(url: PulseUrl, queue_name: str, messages: list[OutgoingMessage], prefetch: int, timeout: float) -> float | None:
    """Fill a new queue with ``messages``, then return the seconds a consumer takes to drain it.

    Every message must carry the same routing key (see routing_messages), and the queue is
    bound with exactly that key, so it receives only this run's messages. The queue is
    deleted on every exit path.
    """
    exchange = Exchange(messages[0].exchange, type="topic", passive=True)
    received = 0

    with _connect(url) as connection:
        queue = Queue(queue_name, exchange=exchange, routing_key=messages[0].routing_key, durable=True, auto_delete=False)
        queue(connection.channel()).declare()
        try:
            publish_messages(url, messages)

            def on_message(body: object, message: object) -> None:
                nonlocal received
                received += 1
                message.ack()  # type: ignore[attr-defined]

            consumer = Consumer(connection.channel(), queues=[queue], callbacks=[on_message], prefetch_count=prefetch)
            with consumer:
                started = time.monotonic()
                deadline = started + timeout
                while received < len(messages) and time.monotonic() < deadline:
                    try:
                        connection.drain_events(timeout=1)
                    except socket.timeout:
                        continue
                finished = time.monotonic()
        finally:
            connection.channel().queue_delete(queue_name)

    if received < len(messages):
        logger.warning("kombu consumer received %d of %d messages within %.0f s", received, len(messages), timeout)
        return None
    return finished - started


def routing_messages(exchange: str, bodies: list[bytes], routing_key: str) -> list[OutgoingMessage]:
    """Return messages with one shared routing key, so one binding routes them all."""
    return [OutgoingMessage(exchange, routing_key, body) for body in bodies]

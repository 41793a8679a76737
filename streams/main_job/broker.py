"""RabbitMQ side of a run: wait for the bridge's queues, publish the samples, delete the queues."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from amqp.exceptions import NotFound
from kombu import Connection

from bridge.publish import OutgoingMessage, PublishResult, publish_messages, read_entries
from bridge.urls import PulseUrl

logger = logging.getLogger(__name__)

# Seconds between two checks of the bridge's queues.
POLL_INTERVAL = 0.5


def connect(url: PulseUrl) -> Connection:
    """Open a kombu connection to ``url``."""
    connection = Connection(
        hostname=url.host,
        port=url.port,
        userid=url.user,
        password=url.password,
        virtual_host=url.vhost,
        ssl=url.ssl,
        connect_timeout=10,
    )
    connection.connect()
    return connection


def wait_for_consumers(url: PulseUrl, queues: Sequence[str], timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until each queue exists and has a consumer, which means its bindings are in place.

    Raises TimeoutError after ``timeout`` seconds and RuntimeError when ``alive`` turns false.
    """
    deadline = time.monotonic() + timeout
    waiting = list(queues)

    with connect(url) as connection:
        while waiting:
            if not alive():
                raise RuntimeError("the bridge exited before it consumed from its queues")
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues {', '.join(waiting)} had no consumer after {timeout:.0f} s")

            waiting = [queue for queue in waiting if _consumer_count(connection, queue) == 0]
            if waiting:
                time.sleep(POLL_INTERVAL)

    logger.info("Queues %s are consumed", ", ".join(queues))


def _consumer_count(connection: Connection, queue: str) -> int:
    channel = connection.channel()
    try:
        _, _, consumers = channel.queue_declare(queue=queue, passive=True)
        return int(consumers)
    except NotFound:
        # A failed passive declare closes the channel, so it is not closed again.
        return 0
    finally:
        if channel.is_open:
            channel.close()


def load_messages(path: Path, run_id: str) -> list[OutgoingMessage]:
    """Read a JSON-lines file or folder and give each message the id `<run id>:<line>`."""
    return [
        dataclasses.replace(message, message_id=message_id(run_id, number))
        for number, message in enumerate(read_entries(path), start=1)
    ]


def message_id(run_id: str, line: int) -> str:
    """Return the AMQP message id of sample ``line`` in run ``run_id``."""
    return f"{run_id}:{line}"


def line_of(run_id: str, message_id_text: str | None) -> int | None:
    """Return the sample line a message id of this run names, else None."""
    if not message_id_text:
        return None
    prefix, _, line = message_id_text.rpartition(":")
    if prefix != run_id or not line.isdigit():
        return None
    return int(line)


def publish(url: PulseUrl, messages: Sequence[OutgoingMessage]) -> PublishResult:
    """Publish with publisher confirms; see bridge.publish.publish_messages."""
    return publish_messages(url, messages)


def delete_queues(url: PulseUrl, queues: Sequence[str]) -> None:
    """Delete the run's queues when they are empty; a queue with messages is kept and logged."""
    with connect(url) as connection:
        for queue in queues:
            channel = connection.channel()
            try:
                _, depth, _ = channel.queue_declare(queue=queue, passive=True)
                if depth:
                    logger.warning("Kept queue %s because it still contains %d messages", queue, depth)
                    continue
                channel.queue_delete(queue=queue, if_empty=True)
                logger.info("Deleted queue %s", queue)
            except NotFound:
                continue
            finally:
                if channel.is_open:
                    channel.close()

"""Raw baseline worker: a Faust agent that forwards each record of one topic to another, with no work.

Run it as a script. It reads its settings from the environment: KAFKA_BOOTSTRAP_SERVERS,
FORWARD_APP_ID, FORWARD_IN_TOPIC, FORWARD_OUT_TOPIC, FORWARD_PARTITIONS, FORWARD_DATA_DIR and
FORWARD_MODE:

- `each` (default): one ``Topic.send`` per event, and Faust's producer batches the sends;
- `awaited`: one ``Topic.send`` per event, each waiting for its delivery report;
- `batches`: events taken in batches of up to 500 within 0.05 s, as the worker's agents take
  them, and sent with the worker's batched ``TopicPublisher.publish_many``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import faust

from streams.agents.publish import OutgoingRecord, TopicPublisher
from streams.agents.retry import Backoff

logger = logging.getLogger(__name__)

FORWARD_MODES = ("each", "awaited", "batches")

# Batch size and wait of the `batches` mode, the worker's defaults for its batched agents.
BATCH_SIZE = 500
BATCH_WAIT = 0.05


def build_app() -> faust.App:
    """Create the forwarding app from the environment."""
    partitions = int(os.environ["FORWARD_PARTITIONS"])
    mode = os.environ.get("FORWARD_MODE", "each")
    if mode not in FORWARD_MODES:
        raise ValueError(f"FORWARD_MODE must be one of {', '.join(FORWARD_MODES)}, got {mode!r}")

    app = faust.App(
        os.environ["FORWARD_APP_ID"],
        env={},
        broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
        store="memory://",
        datadir=os.environ["FORWARD_DATA_DIR"],
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        web_enabled=False,
        autodiscover=False,
        producer_linger=0.0,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(os.environ["FORWARD_IN_TOPIC"], partitions=partitions, key_serializer="raw", value_serializer="raw")
    sink = app.topic(os.environ["FORWARD_OUT_TOPIC"], partitions=partitions, key_serializer="raw", value_serializer="raw")

    publisher = TopicPublisher(sink, Backoff(0.1, 1.0))

    @app.agent(source, name="forward", concurrency=1)
    async def forward(stream: Any) -> None:
        if mode == "batches":
            async for events in stream.take_events(BATCH_SIZE, within=BATCH_WAIT):
                records = [OutgoingRecord(event.key, event.value, "forward") for event in events]
                await publisher.publish_many(records)
            return

        async for event in stream.events():
            delivery = await sink.send(key=event.key, value=event.value, headers=event.message.headers)
            if mode == "awaited":
                await delivery

    return app


def main() -> None:
    """Run the app until SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    worker = faust.Worker(build_app(), loglevel="info", quiet=True, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()

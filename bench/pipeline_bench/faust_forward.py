"""Raw baseline worker: a Faust agent that forwards each record of one topic to another, with no work.

Run it as a script. It reads its settings from the environment: KAFKA_BOOTSTRAP_SERVERS,
FORWARD_APP_ID, FORWARD_IN_TOPIC, FORWARD_OUT_TOPIC, FORWARD_PARTITIONS, FORWARD_DATA_DIR and
FORWARD_AWAIT_DELIVERY (1 waits for each send's delivery report like the pipeline's
publishers, 0 lets Faust's producer batch the sends).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import faust

logger = logging.getLogger(__name__)


def build_app() -> faust.App:
    """Create the forwarding app from the environment."""
    partitions = int(os.environ["FORWARD_PARTITIONS"])
    await_delivery = os.environ.get("FORWARD_AWAIT_DELIVERY", "0") == "1"

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

    @app.agent(source, name="forward", concurrency=1)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            delivery = await sink.send(key=event.key, value=event.value, headers=event.message.headers)
            if await_delivery:
                await delivery

    return app


def main() -> None:
    """Run the app until SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    worker = faust.Worker(build_app(), loglevel="info", quiet=True, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()

"""Raw baseline run: time the bare Faust forwarding agent on N pre-built records."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bench.pipeline_bench.kafka_tools import TopicCounter, create_topics, produce
from bench.pipeline_bench.messages import RawRecord
from bench.pipeline_bench.processes import forward_process

logger = logging.getLogger(__name__)

# Seconds the forwarder gets to join its group and copy the warm-up record.
WARM_UP_TIMEOUT = 120.0


async def measure_faust_forward(
    bootstrap: str, prefix: str, records: list[RawRecord], partitions: int, mode: str, run_dir: Path, timeout: float
) -> float | None:
    """Return the seconds from producing ``records`` until the forwarder copied all, or None on timeout.

    ``mode`` is the forwarder's FORWARD_MODE (see ``faust_forward``).
    """
    in_topic = f"{prefix}in"
    out_topic = f"{prefix}out"
    await create_topics(bootstrap, [in_topic, out_topic], partitions)

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FORWARD_APP_ID": f"{prefix}app",
        "FORWARD_IN_TOPIC": in_topic,
        "FORWARD_OUT_TOPIC": out_topic,
        "FORWARD_PARTITIONS": str(partitions),
        "FORWARD_DATA_DIR": str(run_dir / f"{prefix}data"),
        "FORWARD_MODE": mode,
    }
    counter = TopicCounter(bootstrap, out_topic, partitions)
    await counter.start()
    try:
        with forward_process(env, run_dir / f"{prefix}forward.log") as process:
            await produce(bootstrap, in_topic, records[:1])
            if await counter.wait_for(1, WARM_UP_TIMEOUT) is None:
                raise TimeoutError(f"the Faust forwarder copied no warm-up record within {WARM_UP_TIMEOUT:.0f} s:\n{process.tail()}")

            started = time.monotonic()
            await produce(bootstrap, in_topic, records)
            finished = await counter.wait_for(len(records) + 1, timeout)
            return None if finished is None else finished - started
    finally:
        await counter.stop()


"""``pulse-bridge``: relay Pulse deliveries to the raw Kafka topics until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bridge.config import load_config
from bridge.service import Bridge
from streams.errors import ConfigurationError

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="pulse-bridge",
        description=(
            "Consume Pulse (AMQP) queues and produce every delivery unchanged to the raw Kafka topics. "
            "Settings come from the environment (PULSE_URL, PULSE_PUSH_SOURCES, KAFKA_BOOTSTRAP_SERVERS, ...). "
            "Without a listener option, pushes and jobs are relayed."
        ),
    )
    parser.add_argument("--pushes", action="store_true", help="relay push exchanges to RAW_PUSH_TOPIC")
    parser.add_argument("--jobs", action="store_true", help="relay pulse-job exchanges to RAW_JOB_TOPIC")
    parser.add_argument("--tasks", action="store_true", help="relay Taskcluster task exchanges to RAW_TASK_TOPIC")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bridge; exit 0 after SIGTERM or SIGINT, 1 after a fatal error, 2 on invalid settings."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s",
    )

    kinds = [kind for kind in ("pushes", "jobs", "tasks") if getattr(args, kind)] or ["pushes", "jobs"]
    try:
        config = load_config(kinds)
    except ConfigurationError as error:
        print(f"pulse-bridge: invalid setting {error}", file=sys.stderr)
        return 2

    return asyncio.run(_run(Bridge(config)))


async def _run(bridge: Bridge) -> int:
    """Install the signal handlers and run the bridge."""
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, bridge.request_stop, f"received {signal.Signals(number).name}")
    return await bridge.run()


if __name__ == "__main__":
    sys.exit(main())

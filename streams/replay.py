"""`pulse-replay PATH`: publish recorded Pulse messages to RabbitMQ with publisher confirms.

PATH is a JSON-lines file or a folder of JSON files with one `{exchange, routing_key, body |
body_base64}` object per message, as `pulse-publish --from` reads them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import amqp

from bridge.publish import PublishError, publish_messages, read_entries
from bridge.urls import mask_url, parse_pulse_url
from streams.envconfig import env_str
from streams.errors import ConfigurationError
from streams.main_job.settings import DEFAULT_PULSE_URL

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="pulse-replay",
        description="Publish recorded Pulse messages to their exchanges and wait for the broker's confirms.",
    )
    parser.add_argument("path", type=Path, help="JSON-lines file or folder of JSON files, one message each")
    parser.add_argument(
        "--url", help="AMQP URL of the broker (default: PULSE_URL, else the local stack's RabbitMQ)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Replay and print a one-line result; exit 0 only when every message was confirmed and routed."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    raw_url = args.url or env_str("PULSE_URL", DEFAULT_PULSE_URL).strip() or DEFAULT_PULSE_URL
    try:
        url = parse_pulse_url(raw_url, "--url" if args.url else "PULSE_URL")
        messages = list(read_entries(args.path))
    except (ConfigurationError, PublishError) as error:
        print(f"pulse-replay: {mask_url(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"pulse-replay: cannot read {args.path}: {error.strerror}", file=sys.stderr)
        return 2

    try:
        result = publish_messages(url, messages)
    except (OSError, amqp.exceptions.AMQPError) as error:
        print(f"pulse-replay: publishing to {url.masked()} failed: {mask_url(str(error))}", file=sys.stderr)
        return 1

    print(
        f"replayed {result.published} messages from {args.path} to {url.masked()}: "
        f"{result.nacked} rejected by the broker, {result.returned} unroutable"
    )
    return 0 if result.nacked == 0 and result.returned == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

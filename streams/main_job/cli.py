"""Command line of the main job (`python -m streams.main_job`, what `make run` calls)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import amqp

from streams.errors import ConfigurationError, RetriableError
from streams.main_job.job import run_job
from streams.main_job.settings import load_run_settings
from streams.main_job.stackup import ensure_stack_up
from streams.samples import load_expected, messages_path

logger = logging.getLogger(__name__)

# Default of --timeout: seconds to wait for every message to be accounted for.
DEFAULT_TIMEOUT = 300.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; connections come from KAFKA_BOOTSTRAP_SERVERS, PULSE_URL and DATABASE_URL."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.main_job",
        description=(
            "Start the local stack if needed, migrate the database, run the bridge and one worker on "
            "topics and queues of their own, publish the bundled sample Pulse messages, wait until every "
            "message is accounted for and print a summary. Exits 1 when a message is unaccounted for."
        ),
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds to wait for the outcomes (default {DEFAULT_TIMEOUT:g})"
    )
    parser.add_argument(
        "--messages",
        type=Path,
        help="JSON-lines file or folder of messages to publish instead of the bundled samples; "
        "their outcomes are accounted for but not compared with expectations",
    )
    parser.add_argument("--keep-topics", action="store_true", help="keep the run's Kafka topics after a successful run")
    parser.add_argument("--no-stack", action="store_true", help="do not start the local stack")
    parser.add_argument("--log-level", default="warning", help="log level of the main job itself (default warning)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the main job and return its exit code: 0 all accounted for, 1 not, 2 invalid settings."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    if args.timeout <= 0:
        print("main job: --timeout must be positive", file=sys.stderr)
        return 2

    try:
        settings = load_run_settings(os.environ, args.timeout)
    except ConfigurationError as error:
        print(f"main job: invalid setting {error}", file=sys.stderr)
        return 2

    if not args.no_stack and not ensure_stack_up():
        print("main job: the local stack did not start; see `python -m stack status`", file=sys.stderr)
        return 1

    messages = args.messages or messages_path()
    expected = None if args.messages else load_expected()

    # SIGTERM ends the run like Ctrl-C, so the subprocesses are stopped on the way out.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"Run {settings.name}: publishing {messages}; logs in {settings.run_dir}", flush=True)
    try:
        outcome = asyncio.run(run_job(settings, messages, expected, args.keep_topics))
    except KeyboardInterrupt:
        print("main job: interrupted; the bridge and the worker were stopped", file=sys.stderr)
        return 130
    except (OSError, TimeoutError, RuntimeError, RetriableError, amqp.exceptions.AMQPError) as error:
        logger.debug("Run %s failed", settings.name, exc_info=True)
        print(f"main job: run {settings.name} failed: {error}; logs in {settings.run_dir}", file=sys.stderr)
        return 1

    print(outcome.summary)
    return outcome.exit_code


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signum}")

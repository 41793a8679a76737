"""`pulse-worker`: run the Faust worker after migrating the database and creating the topics."""

from __future__ import annotations

import time

# Taken before the heavy imports below, so the start-up figure includes importing Faust.
_PROCESS_STARTED = time.monotonic()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import faust  # noqa: E402

from streams import metrics  # noqa: E402
from streams.agents.lifecycle import DatabaseService, SinkDatabase, TopicSetup  # noqa: E402
from streams.agents.retry import Backoff  # noqa: E402
from streams.app import create_app  # noqa: E402
from streams.config import WorkerSettings  # noqa: E402
from streams.errors import ConfigurationError  # noqa: E402
from streams.lookups.settings import LookupSettings  # noqa: E402
from streams.pushlog.settings import PollerSettings  # noqa: E402
from streams.registry.repositories import RepositoryRegistry  # noqa: E402
from streams.sinks.database import DatabaseSettings, DatabaseSink  # noqa: E402

logger = logging.getLogger(__name__)

LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"

READY_MESSAGE = "worker ready in %.2f s"
"""Log line written once the first rebalance and table recovery finished; tests wait for it."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; every other setting comes from environment variables."""
    parser = argparse.ArgumentParser(
        prog="pulse-worker",
        description=(
            "Run the pulse-ingest Faust worker. Settings are read from environment variables "
            "(KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, DATA_DIR, ...); see streams/config.py."
        ),
    )
    parser.add_argument(
        "-l",
        "--loglevel",
        choices=("debug", "info", "warning", "error"),
        help="log level; overrides LOG_LEVEL (default info)",
    )
    parser.add_argument(
        "--skip-migrations",
        action="store_true",
        help="do not upgrade the database schema before starting",
    )
    return parser.parse_args(argv)


def install_readiness_log(app: faust.App, started: float) -> None:
    """Log how long the worker took to join its group and to become ready."""
    reported: set[str] = set()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any = (), **kwargs: Any) -> None:
        if "joined" not in reported:
            reported.add("joined")
            logger.info(
                "joined consumer group %s with %d partitions in %.2f s",
                app.conf.id,
                len(assigned),
                time.monotonic() - started,
            )

    @app.on_rebalance_complete.connect
    async def on_ready(sender: Any, **kwargs: Any) -> None:
        if "ready" not in reported:
            reported.add("ready")
            logger.info(READY_MESSAGE, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until it is stopped; return the process exit code."""
    args = parse_args(argv)

    try:
        settings = WorkerSettings.from_env()
        database_settings = DatabaseSettings.from_env()
        lookup_settings = LookupSettings.from_env()
        poller_settings = PollerSettings.from_env()
        registry = RepositoryRegistry.load(settings.repository_registry)
    except ConfigurationError as error:
        print(f"pulse-worker: invalid configuration: {error}", file=sys.stderr)
        return 2

    loglevel = args.loglevel or settings.log_level
    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT, stream=sys.stderr)
    backoff = Backoff(settings.retry_initial, settings.retry_max)

    sink = DatabaseSink(database_settings)
    worker_app = create_app(
        settings,
        database=SinkDatabase(sink),
        registry=registry,
        lookup_settings=lookup_settings,
        poller_settings=poller_settings,
    )
    install_readiness_log(worker_app.app, _PROCESS_STARTED)

    # Services start in this order before the app, and stop after it.
    services = [
        TopicSetup(settings, backoff),
        DatabaseService(sink, registry, backoff, migrate=not args.skip_migrations),
    ]
    # override_logging=False keeps the configuration above instead of Faust's own.
    worker = faust.Worker(
        worker_app.app, *services, loglevel=loglevel, quiet=True, override_logging=False
    )

    logger.info(
        "Starting worker %s of app %s on %s (data %s, store %s, %d partitions, database %s)",
        settings.worker_id,
        settings.app_id,
        ",".join(settings.bootstrap_servers),
        settings.data_dir,
        settings.store,
        settings.topic_partitions,
        database_settings.masked_url,
    )
    metrics.start_metrics_server(settings.metrics_port)

    try:
        worker.execute_from_commandline()
    except SystemExit as exit_request:
        code = exit_request.code
        logger.info("Worker stopped with exit code %s", code)
        return code if isinstance(code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

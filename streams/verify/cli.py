"""Command line of the verifier (`python -m streams.verify`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from streams.config import WorkerSettings
from streams.errors import ConfigurationError
from streams.sinks.database.config import DatabaseSettings
from streams.verify.run import verify

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; topics come from TOPIC_PREFIX and friends, the database from DATABASE_URL."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.verify",
        description=(
            "Account for every published message id in the dead-letter topic and the database, "
            "check that no job or push is stored twice and that each job is stored in the state its "
            "events imply. Prints a JSON summary; exits 1 on any finding, 2 on invalid settings."
        ),
    )
    parser.add_argument(
        "ids",
        type=Path,
        help="file of published AMQP message ids: one id per line, or JSON lines with a message_id field",
    )
    parser.add_argument("--log-level", default="warning", help="log level (default warning)")
    return parser.parse_args(argv)


def read_ids(path: Path) -> list[str]:
    """Read message ids from ``path``; blank lines are skipped."""
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            entry = json.loads(text)
            text = entry.get("message_id") or (entry.get("properties") or {}).get("message_id")
            if not text:
                raise ValueError(f"{path}: missing message_id in entry {line[:80]}")
        ids.append(text)
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier and return its exit code: 0 all accounted for, 1 findings, 2 invalid input."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    try:
        ids = read_ids(args.ids)
        settings = WorkerSettings.from_env(os.environ)
        database = DatabaseSettings.from_env(os.environ)
    except (OSError, ValueError, ConfigurationError) as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2

    report = asyncio.run(verify(ids, settings, database.url))
    print(json.dumps(report.summary(), indent=2, sort_keys=True))
    return 0 if report.ok else 1

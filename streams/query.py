"""`pulse-query`: print stored pushes and jobs, or the records of the dead-letter topic."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.exc import DBAPIError

from streams.config import WorkerSettings
from streams.errors import ConfigurationError
from streams.main_job.observe import KafkaRecord, TopicReader
from streams.sinks.database import DatabaseSettings
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.queries import jobs_of_push, pushes_of_repository

logger = logging.getLogger(__name__)

# Characters of a dead-letter message shown per line.
MESSAGE_CHARS = 200


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; connections come from DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS."""
    parser = argparse.ArgumentParser(
        prog="pulse-query",
        description="Query the ingestion database (DATABASE_URL) or the dead-letter topic (DEAD_LETTER_TOPIC).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    pushes = commands.add_parser("pushes", help="newest pushes of a repository with commit and job counts")
    pushes.add_argument("repository", help="repository name from the registry, such as autoland")
    pushes.add_argument("--limit", type=int, default=20, help="maximum number of pushes to print (default 20)")

    jobs = commands.add_parser("jobs", help="jobs of one push")
    jobs.add_argument("repository", help="repository name")
    jobs.add_argument("revision", help="head revision of the push, 40 hex characters")

    dead = commands.add_parser("dead-letters", help="dead-letter records, read from the start of the topic")
    dead.add_argument("--reason", help="only records with this reason, such as not-json")
    dead.add_argument("--limit", type=int, default=50, help="maximum number of records to print (default 50)")
    dead.add_argument("--topic", help="topic to read (default: DEAD_LETTER_TOPIC with TOPIC_PREFIX)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one query; exit 2 on invalid settings, 1 when the database or Kafka fails."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    try:
        if args.command == "dead-letters":
            settings = WorkerSettings.from_env()
            topic = args.topic or settings.topics.dead_letter
            return asyncio.run(print_dead_letters(settings, topic, args.reason, args.limit))

        database = DatabaseSettings.from_env()
        if args.command == "pushes":
            return asyncio.run(print_pushes(database, args.repository, args.limit))
        return asyncio.run(print_jobs(database, args.repository, args.revision))
    except ConfigurationError as error:
        print(f"pulse-query: invalid setting {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:
        print(f"pulse-query: {args.command} failed: {error}", file=sys.stderr)
        return 1
    except DBAPIError as error:
        # The driver's first line names the problem (for example a missing table when
        # DATABASE_URL names a database the worker never migrated); the password is masked.
        reason = str(error.orig).splitlines()[0] if error.orig is not None else type(error).__name__
        print(
            f"pulse-query: {args.command} failed on {DatabaseSettings.from_env().masked_url}: {reason}. "
            "Check that DATABASE_URL names the database the worker writes.",
            file=sys.stderr,
        )
        return 1


async def print_pushes(database: DatabaseSettings, repository: str, limit: int) -> int:
    """Print one line per push."""
    engine = create_database_engine(database.url, pool_size=1)
    try:
        rows = await pushes_of_repository(engine, repository, limit=limit)
    finally:
        await engine.dispose()

    for row in rows:
        print(
            f"{row['revision']}  {row['push_timestamp']:%Y-%m-%d %H:%M:%S}Z  {row['kind']:<19} "
            f"commits {row['commit_count']:>3}  jobs {row['job_count']:>4}  {row['author']}"
        )
    print(f"{len(rows)} pushes of {repository} in {database.masked_url}")
    return 0


async def print_jobs(database: DatabaseSettings, repository: str, revision: str) -> int:
    """Print one line per job of a push."""
    engine = create_database_engine(database.url, pool_size=1)
    try:
        rows = await jobs_of_push(engine, repository, revision)
    finally:
        await engine.dispose()

    for row in rows:
        print(
            f"{row['guid']:<44} {row['state']:<10} {row['result']:<11} "
            f"{row['job_group_symbol']}({row['job_type_symbol']}) {row['job_type_name']}"
        )
    print(f"{len(rows)} jobs of {repository}/{revision}")
    return 0


async def print_dead_letters(settings: WorkerSettings, topic: str, reason: str | None, limit: int) -> int:
    """Print reason, source position and message of each dead-letter record, oldest first."""
    partitions = await _partition_count(settings, topic)
    reader = TopicReader(",".join(settings.bootstrap_servers), [topic], partitions)
    await reader.start()
    try:
        await reader.catch_up()
    finally:
        await reader.stop()

    records = [record for record in reader.records(topic) if reason is None or _field(record, "reason") == reason]
    for record in records[:limit]:
        print(format_dead_letter(record))
    print(f"{len(records)} dead letters{f' with reason {reason}' if reason else ''} in {topic}; {min(limit, len(records))} shown")
    return 0


def format_dead_letter(record: KafkaRecord) -> str:
    """Return one line: reason, stage, source topic[partition]@offset and the message."""
    value: dict[str, Any] = record.value if isinstance(record.value, dict) else {}
    source = value.get("source") or {}
    message = str(value.get("message", ""))[:MESSAGE_CHARS]
    return (
        f"{value.get('reason', '?'):<20} {value.get('stage', '?'):<12} "
        f"{source.get('topic')}[{source.get('partition')}]@{source.get('offset')}  {json.dumps(message)}"
    )


async def _partition_count(settings: WorkerSettings, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=list(settings.bootstrap_servers))
    await admin.start()
    try:
        # A metadata request that names a missing topic makes a broker with
        # auto.create.topics.enable create it, so the topic list is checked first.
        if topic not in await admin.list_topics():
            raise RuntimeError(
                f"topic {topic} not found at {','.join(settings.bootstrap_servers)}; "
                "check TOPIC_PREFIX (it ends with the separator, as `make run` prints it)"
            )
        descriptions = await admin.describe_topics([topic])
    finally:
        await admin.close()

    if not descriptions or descriptions[0].get("error_code") or not descriptions[0]["partitions"]:
        raise RuntimeError(f"topic {topic} not found at {','.join(settings.bootstrap_servers)}")
    return len(descriptions[0]["partitions"])


def _field(record: KafkaRecord, name: str) -> Any:
    return record.value.get(name) if isinstance(record.value, dict) else None


if __name__ == "__main__":
    sys.exit(main())

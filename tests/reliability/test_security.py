"""Credentials stay out of logs and dead letters, and SQL statements take values as parameters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from streams.main_job.observe import TopicReader
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.queries import jobs_of_push
from tests.reliability.bodies import JOB_EXCHANGE, Message, sample_entries
from tests.reliability.conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Text with SQL quoting and comment characters that a string-built statement would break on.
SQL_TEXT = "x'); DROP TABLE job; -- \"quoted\" `tick` \\ back"


def _messages() -> list[Message]:
    entries = sample_entries()
    push = entries[10]
    job = entries[0]["body"]
    job["display"]["jobName"] = SQL_TEXT
    job["display"]["groupName"] = SQL_TEXT
    bad = b"<not json>"
    return [
        Message(push["exchange"], push["routing_key"], json.dumps(push["body"]).encode(), None, "valid"),
        Message(JOB_EXCHANGE, entries[0]["routing_key"], json.dumps(job).encode(), None, "valid"),
        Message(JOB_EXCHANGE, entries[0]["routing_key"], bad, "not-json", "not-json"),
    ]


async def _dead_letter_text(pipeline: Pipeline) -> str:
    reader = TopicReader(pipeline.settings.bootstrap_servers, (pipeline.topics.dead_letter,), pipeline.worker_settings.topic_partitions)
    await reader.start()
    try:
        await reader.catch_up()
    finally:
        await reader.stop()
    return "\n".join(json.dumps(record.value) for record in reader.records(pipeline.topics.dead_letter))


async def _stored_job_names(url: str, repository: str, revision: str) -> list[str]:
    engine = create_database_engine(url, pool_size=1)
    try:
        return [row["job_type_name"] for row in await jobs_of_push(engine, repository, revision)]
    finally:
        await engine.dispose()


@pytest.fixture
def settled(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    """A pipeline with debug logs that has accounted for the push, the quoted job and one bad body."""
    pipeline = make_pipeline(worker_env={"LOG_LEVEL": "debug"})
    numbered = [(pipeline.message_id(number), message) for number, message in enumerate(_messages(), 1)]
    pipeline.publish(numbered)
    report = pipeline.settle([message_id for message_id, _ in numbered])
    assert report.ok, report.summary()
    assert report.accounted == len(numbered), report.summary()
    return pipeline


def test_logs_hide_passwords(settled: Pipeline) -> None:
    logs = settled.logs()
    pulse_password = settled.settings.pulse_url.password
    database_password = settled.settings.database.url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]

    assert logs
    # The local stack's passwords equal their user names, so the search is for `user:password@`.
    assert f":{pulse_password}@" not in logs
    assert f":{database_password}@" not in logs


def test_dead_letters_hide_passwords(settled: Pipeline) -> None:
    text = asyncio.run(_dead_letter_text(settled))
    pulse_password = settled.settings.pulse_url.password

    assert "not-json" in text
    assert f":{pulse_password}@" not in text


def test_sql_quotes_stored_verbatim(settled: Pipeline) -> None:
    revision = sample_entries()[0]["body"]["origin"]["revision"]
    names = asyncio.run(_stored_job_names(settled.settings.database.url, "autoland", revision))

    assert SQL_TEXT in names

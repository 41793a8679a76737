"""Tests of DatabaseSink.write_pushes and ensure_repositories."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from streams.sinks.database.errors import UnknownRepositoryError
from streams.sinks.database.models import commit, push, repository
from streams.sinks.database.queries import table_counts
from streams.sinks.database.writer import DatabaseSink

PushFactory = Callable[..., dict[str, Any]]


async def stored_push(sink: DatabaseSink, revision: str) -> dict[str, Any]:
    async with sink.engine.connect() as connection:
        row = (await connection.execute(select(push).where(push.c.revision == revision))).one()
    return dict(row._mapping)


async def stored_commits(sink: DatabaseSink) -> list[dict[str, Any]]:
    async with sink.engine.connect() as connection:
        rows = await connection.execute(select(commit).order_by(commit.c.revision))
    return [dict(row._mapping) for row in rows]


async def test_push_twice_one_row(sink: DatabaseSink, make_push_record: PushFactory) -> None:
    record = make_push_record()

    await sink.write_pushes([record])
    await sink.write_pushes([record])

    counts = await table_counts(sink.engine)
    assert counts["push"] == 1
    assert counts["commit"] == 2


async def test_push_repeated_in_batch(sink: DatabaseSink, make_push_record: PushFactory) -> None:
    record = make_push_record()

    await sink.write_pushes([record, record, record])

    counts = await table_counts(sink.engine)
    assert counts["push"] == 1
    assert counts["commit"] == 2


async def test_unenriched_keeps_commits(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    await sink.write_pushes([make_push_record(enriched=True)])
    await sink.write_pushes([make_push_record(enriched=False, author="later@example.com")])

    stored = await stored_push(sink, make_push_record()["revision"])
    assert stored["enriched"] is True
    assert len(await stored_commits(sink)) == 2


async def test_unenriched_keeps_author_and_time(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    enriched = make_push_record(enriched=True)
    await sink.write_pushes([enriched])
    await sink.write_pushes(
        [make_push_record(enriched=False, author="later@example.com", push_timestamp=1)]
    )

    stored = await stored_push(sink, enriched["revision"])
    assert stored["author"] == enriched["author"]
    assert stored["push_timestamp"].timestamp() == enriched["push_timestamp"]


async def test_unenriched_updates_unenriched(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    await sink.write_pushes([make_push_record(enriched=False)])
    await sink.write_pushes([make_push_record(enriched=False, author="later@example.com")])

    stored = await stored_push(sink, make_push_record()["revision"])
    assert stored["author"] == "later@example.com"


async def test_unenriched_repeat_keeps_time(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    first = make_push_record(enriched=False, push_timestamp=1740767261)
    await sink.write_pushes([first])
    await sink.write_pushes([make_push_record(enriched=False, push_timestamp=1740770000)])

    stored = await stored_push(sink, first["revision"])
    assert stored["push_timestamp"].timestamp() == first["push_timestamp"]


async def test_enriched_replaces_unenriched_time(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    await sink.write_pushes([make_push_record(enriched=False, push_timestamp=1740770000)])
    enriched = make_push_record(enriched=True, push_timestamp=1740767261)
    await sink.write_pushes([enriched])

    stored = await stored_push(sink, enriched["revision"])
    assert stored["push_timestamp"].timestamp() == enriched["push_timestamp"]


async def test_enriched_after_unenriched(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    await sink.write_pushes([make_push_record(enriched=False)])
    assert len(await stored_commits(sink)) == 0

    await sink.write_pushes([make_push_record(enriched=True)])

    stored = await stored_push(sink, make_push_record()["revision"])
    assert stored["enriched"] is True
    assert len(await stored_commits(sink)) == 2


async def test_commit_comment_updated(sink: DatabaseSink, make_push_record: PushFactory) -> None:
    revision = "a" * 40
    first = [{"revision": revision, "author": "A <a@example.com>", "comment": "Old"}]
    second = [{"revision": revision, "author": "A <a@example.com>", "comment": "New"}]

    await sink.write_pushes([make_push_record(revision=revision, revisions=first)])
    await sink.write_pushes([make_push_record(revision=revision, revisions=second)])

    commits = await stored_commits(sink)
    assert len(commits) == 1
    assert commits[0]["comment"] == "New"


async def test_push_timestamp_is_utc(sink: DatabaseSink, make_push_record: PushFactory) -> None:
    await sink.write_pushes([make_push_record(push_timestamp=1469830246)])

    stored = await stored_push(sink, make_push_record()["revision"])
    assert stored["push_timestamp"] == datetime.datetime(
        2016, 7, 29, 22, 10, 46, tzinfo=datetime.UTC
    )


async def test_branch_and_kind_stored(sink: DatabaseSink, make_push_record: PushFactory) -> None:
    await sink.write_pushes([make_push_record(branch="releases/v1", kind="github-push")])

    stored = await stored_push(sink, make_push_record()["revision"])
    assert stored["branch"] == "releases/v1"
    assert stored["kind"] == "github-push"


async def test_unknown_repository_rejected(
    sink: DatabaseSink, make_push_record: PushFactory
) -> None:
    with pytest.raises(UnknownRepositoryError) as raised:
        await sink.write_pushes([make_push_record(), make_push_record(repository="missing")])

    assert raised.value.retriable is False
    assert raised.value.names == ["missing"]
    assert (await table_counts(sink.engine))["push"] == 0


async def test_repositories_upserted(
    sink: DatabaseSink, make_repository: Callable[..., Any]
) -> None:
    await sink.ensure_repositories(
        [make_repository(active=False, url="https://example.com/moved"), make_repository("try")]
    )

    async with sink.engine.connect() as connection:
        rows = (await connection.execute(select(repository).order_by(repository.c.name))).all()
    assert [row.name for row in rows] == ["mozilla-central", "try"]
    assert rows[0].active is False
    assert rows[0].url == "https://example.com/moved"


async def test_repository_mapping_accepted(sink: DatabaseSink) -> None:
    entry = {
        "name": "autoland",
        "url": "https://hg.mozilla.org/integration/autoland",
        "dvcs_type": "hg",
        "active": True,
        "tc_root_url": "https://firefox-ci-tc.services.mozilla.com",
    }

    await sink.ensure_repositories([entry])

    assert (await table_counts(sink.engine))["repository"] == 2

"""ensure_topics creates the table changelogs, compacted and co-partitioned, before Faust starts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.app import create_faust_app
from streams.config import WorkerSettings
from streams.tables.definitions import create_tables
from streams.topics import changelog_topics, ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(kafka_bootstrap_servers: str) -> AsyncIterator[WorkerSettings]:
    """Settings with topic names unique to this test; the topics are deleted afterwards."""
    prefix = f"it-{uuid.uuid4().hex[:10]}-"
    settings = WorkerSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "TOPIC_PREFIX": prefix,
            "APP_ID": f"{prefix}app",
            "TOPIC_PARTITIONS": "3",
        }
    )
    yield settings

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def test_changelog_names_match_faust(settings):
    app = create_faust_app(settings)
    tables = create_tables(app, settings)

    faust_names = {table.changelog_topic_name for table in app.tables.values()}

    assert faust_names == {tables.pushes.changelog_topic_name, tables.parked.changelog_topic_name}
    assert set(changelog_topics(settings)) == faust_names


def test_no_job_state_changelog(settings):
    names = changelog_topics(settings)

    assert [name for name in names if "job-states" in name] == []
    assert len(names) == 2


async def test_changelogs_are_created_compacted(settings, kafka_bootstrap_servers):
    await ensure_topics(settings)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        names = list(changelog_topics(settings))
        descriptions = await admin.describe_topics(names)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()

    partitions = {item["topic"]: len(item["partitions"]) for item in descriptions}
    policies = {
        resource[3]: entry[1]
        for response in responses
        for resource in response.resources
        for entry in resource[4]
        if entry[0] == "cleanup.policy"
    }
    assert partitions == {name: 3 for name in names}
    assert policies == {name: "compact" for name in names}


async def test_existing_topics_are_kept(settings):
    await ensure_topics(settings)

    await ensure_topics(settings)

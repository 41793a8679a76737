"""WorkerSettings.from_env: defaults, prefixes and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import WorkerSettings
from streams.errors import ConfigurationError


def test_defaults():
    settings = WorkerSettings.from_env({})

    assert settings.bootstrap_servers == ("127.0.0.1:19092",)
    assert settings.app_id == "pulse-ingest"
    assert settings.topic_partitions == 8
    assert settings.topics.pushes == "pulse-pushes-by-revision"
    assert settings.topics.jobs == "pulse-jobs-by-revision"
    assert settings.topics.dead_letter == "pulse-dead-letter"
    assert settings.data_dir == Path("var/worker-0")
    assert settings.store == "rocksdb://"
    assert settings.table_standby_replicas == 0
    assert settings.parked_job_window == 14400.0
    assert settings.web_enabled is False
    assert settings.metrics_port == 0


def test_worker_id_selects_data_dir():
    settings = WorkerSettings.from_env({"WORKER_ID": "b"})

    assert settings.data_dir == Path("var/worker-b")


def test_prefix_applies_to_every_topic():
    settings = WorkerSettings.from_env({"TOPIC_PREFIX": "t1-", "JOB_TOPIC": "jobs"})

    assert settings.topics.jobs == "t1-jobs"
    assert all(name.startswith("t1-") for name in settings.topics.all())


def test_broker_urls():
    settings = WorkerSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "a:1, b:2"})

    assert settings.broker_urls == ["kafka://a:1", "kafka://b:2"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KAFKA_BOOTSTRAP_SERVERS", "no-port"),
        ("KAFKA_BOOTSTRAP_SERVERS", " , "),
        ("TOPIC_PARTITIONS", "0"),
        ("TOPIC_PARTITIONS", "eight"),
        ("STORE", "rocksdict://"),
        ("APP_ID", "has space"),
        ("WORKER_ID", "../x"),
        ("PARKED_JOB_WINDOW", "-1"),
        ("PARKED_SWEEP_INTERVAL", "0"),
        ("WEB_PORT", "70000"),
        ("WEB_ENABLED", "maybe"),
        ("REPOSITORY_REGISTRY", "/no/such/file.yml"),
        ("LOG_LEVEL", "loud"),
        ("RETRY_MAX", "0.1"),
        ("DEAD_LETTER_TOPIC", "pulse-raw-jobs"),
    ],
)
def test_invalid_value_names_variable(variable, value):
    with pytest.raises(ConfigurationError) as raised:
        WorkerSettings.from_env({variable: value})

    assert raised.value.variable == variable

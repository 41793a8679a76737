"""Tests of the bridge settings: queues, topics and numeric variables."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bridge.config import load_config
from streams.errors import ConfigurationError


def test_default_listeners(make_env: Callable[..., dict[str, str]]) -> None:
    config = load_config(environ=make_env(), hostname="devbox")

    assert [listener.kind for listener in config.listeners] == ["pushes", "jobs"]
    assert [listener.queue for listener in config.listeners] == [
        "queue/pulse-local/pushes-devbox",
        "queue/pulse-local/jobs-devbox",
    ]
    assert [listener.topic for listener in config.listeners] == ["pulse-raw-pushes", "pulse-raw-jobs"]


def test_task_listener(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_TASK_QUEUE_NAME="tasks-a", RAW_TASK_TOPIC="raw-tasks")

    (listener,) = load_config(["tasks"], environ=env, hostname="devbox").listeners

    assert listener.queue == "queue/pulse-local/tasks-a"
    assert listener.topic == "raw-tasks"


def test_numeric_settings(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(
        BRIDGE_PREFETCH="200",
        BRIDGE_MAX_IN_FLIGHT="50",
        BRIDGE_SEND_TIMEOUT="2.5",
        BRIDGE_METRICS_PORT="9108",
        PULSE_AUTO_DELETE_QUEUES="true",
    )

    config = load_config(environ=env, hostname="h")

    assert config.prefetch == 200
    assert config.max_in_flight == 50
    assert config.send_timeout == 2.5
    assert config.metrics_port == 9108
    assert all(listener.auto_delete for listener in config.listeners)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BRIDGE_PREFETCH", "0"),
        ("BRIDGE_PREFETCH", "70000"),
        ("BRIDGE_PREFETCH", "many"),
        ("BRIDGE_MAX_IN_FLIGHT", "0"),
        ("BRIDGE_SEND_TIMEOUT", "soon"),
        ("BRIDGE_METRICS_PORT", "-1"),
        ("BRIDGE_METRICS_PORT", "65536"),
        ("PULSE_AUTO_DELETE_QUEUES", "maybe"),
        ("RAW_JOB_TOPIC", "bad topic"),
        ("PULSE_JOB_QUEUE_NAME", "has space"),
        ("KAFKA_BOOTSTRAP_SERVERS", " "),
        ("PULSE_URL", ""),
    ],
)
def test_invalid_value_names_variable(make_env: Callable[..., dict[str, str]], variable: str, value: str) -> None:
    env = make_env(**{variable: value})

    with pytest.raises(ConfigurationError) as caught:
        load_config(environ=env, hostname="h")

    assert caught.value.variable == variable


def test_shared_queue_rejected() -> None:
    url = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"
    source = {"pulse_url": url, "root_url": "https://x", "hgmo": True}
    env = {"PULSE_PUSH_SOURCES": json.dumps([source, {**source, "root_url": "https://y"}])}

    with pytest.raises(ConfigurationError) as caught:
        load_config(["pushes"], environ=env, hostname="h")

    assert caught.value.variable == "PULSE_PUSH_QUEUE_NAME"


def test_one_listener_per_json_source() -> None:
    url = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"
    first = {"pulse_url": url, "root_url": "https://x", "hgmo": True}
    second = {"pulse_url": url, "root_url": "https://y", "github": True, "vhost": "other"}
    env = {"PULSE_PUSH_SOURCES": json.dumps([first, second])}

    listeners = load_config(["pushes"], environ=env, hostname="h").listeners

    assert [listener.root_url for listener in listeners] == ["https://x", "https://y"]
    assert [listener.url.vhost for listener in listeners] == ["pulse", "other"]


def test_error_hides_password() -> None:
    env = {"PULSE_URL": "ftp://pulse-local:topsecret@127.0.0.1/"}

    with pytest.raises(ConfigurationError) as caught:
        load_config(environ=env, hostname="h")

    assert "topsecret" not in str(caught.value)

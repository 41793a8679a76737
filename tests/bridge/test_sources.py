"""Tests of the two source formats and the bindings each one creates."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bridge.config import sources_for
from bridge.sources import TASK_EXCHANGES, Binding, parse_binding_list, parse_json_sources
from streams.errors import ConfigurationError

LOCAL_URL = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"


def pairs(bindings: tuple[Binding, ...]) -> list[tuple[str, str]]:
    return [(item.exchange, item.routing_key) for item in bindings]


def test_comma_split_at_first_dot() -> None:
    bindings = parse_binding_list("exchange/hgpushes/v1.#", "PULSE_PUSH_SOURCES")

    assert pairs(bindings) == [("exchange/hgpushes/v1", "#")]


def test_comma_keeps_dots_in_key() -> None:
    bindings = parse_binding_list("exchange/a/v1.primary.org.repo", "PULSE_PUSH_SOURCES")

    assert pairs(bindings) == [("exchange/a/v1", "primary.org.repo")]


def test_comma_colon_list_with_prefix() -> None:
    bindings = parse_binding_list(
        "exchange/taskcluster-treeherder/v1/jobs.#:route.x.#, exchange/other/v1.a", "PULSE_JOB_SOURCES", "#."
    )

    assert pairs(bindings) == [
        ("exchange/taskcluster-treeherder/v1/jobs", "#.#"),
        ("exchange/taskcluster-treeherder/v1/jobs", "#.route.x.#"),
        ("exchange/other/v1", "#.a"),
    ]


def test_comma_drops_repeats() -> None:
    bindings = parse_binding_list("exchange/a/v1.#,exchange/a/v1.#", "PULSE_PUSH_SOURCES")

    assert pairs(bindings) == [("exchange/a/v1", "#")]


@pytest.mark.parametrize("raw", ["exchange/a/v1", "exchange/a/v1.", "exchange/a/v1.#::x", ".#", " , "])
def test_comma_rejects_invalid(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_binding_list(raw, "PULSE_PUSH_SOURCES")

    assert caught.value.variable == "PULSE_PUSH_SOURCES"


def test_default_push_bindings(make_env: Callable[..., dict[str, str]]) -> None:
    (source,) = sources_for("pushes", make_env())

    assert pairs(source.bindings) == [
        ("exchange/taskcluster-github/v1/push", "#"),
        ("exchange/taskcluster-github/v1/pull-request", "#"),
        ("exchange/hgpushes/v1", "#"),
    ]
    assert source.root_url == "https://firefox-ci-tc.services.mozilla.com"


def test_default_job_bindings(make_env: Callable[..., dict[str, str]]) -> None:
    (source,) = sources_for("jobs", make_env())

    assert pairs(source.bindings) == [("exchange/taskcluster-treeherder/v1/jobs", "#.#")]


def test_default_task_bindings(make_env: Callable[..., dict[str, str]]) -> None:
    (source,) = sources_for("tasks", make_env())

    assert pairs(source.bindings) == [(exchange, "#.#") for exchange in TASK_EXCHANGES]
    assert len(source.bindings) == 6


def test_push_keys_not_prefixed(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_PUSH_SOURCES="exchange/hgpushes/v1.try:integration/autoland")

    (source,) = sources_for("pushes", env)

    assert pairs(source.bindings) == [("exchange/hgpushes/v1", "try"), ("exchange/hgpushes/v1", "integration/autoland")]


def test_job_keys_prefixed(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_JOB_SOURCES="exchange/taskcluster-treeherder/v1/jobs.tc-treeherder.#:x")

    (source,) = sources_for("jobs", env)

    assert pairs(source.bindings) == [
        ("exchange/taskcluster-treeherder/v1/jobs", "#.tc-treeherder.#"),
        ("exchange/taskcluster-treeherder/v1/jobs", "#.x"),
    ]


def test_root_url_from_env(make_env: Callable[..., dict[str, str]]) -> None:
    (source,) = sources_for("jobs", make_env(PULSE_ROOT_URL="https://community-tc.services.mozilla.com"))

    assert source.root_url == "https://community-tc.services.mozilla.com"


def json_source(**fields: object) -> dict[str, object]:
    return {"pulse_url": LOCAL_URL, "root_url": "https://tc.example.org", **fields}


def test_json_push_flags(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_PUSH_SOURCES=json.dumps([json_source(hgmo=True, github=True)]))

    (source,) = sources_for("pushes", env)

    assert pairs(source.bindings) == [
        ("exchange/hgpushes/v1", "#"),
        ("exchange/taskcluster-github/v1/push", "#"),
        ("exchange/taskcluster-github/v1/pull-request", "#"),
    ]
    assert source.root_url == "https://tc.example.org"


def test_json_hgmo_only(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_PUSH_SOURCES=json.dumps([json_source(hgmo=True)]))

    (source,) = sources_for("pushes", env)

    assert pairs(source.bindings) == [("exchange/hgpushes/v1", "#")]


def test_json_task_sources_default_on(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_TASK_SOURCES=json.dumps([json_source()]))

    (source,) = sources_for("tasks", env)

    assert pairs(source.bindings) == [(exchange, "#.#") for exchange in TASK_EXCHANGES]


def test_json_vhost_replaces_url_vhost(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_TASK_SOURCES=json.dumps([json_source(vhost="communitytc")]))

    (source,) = sources_for("tasks", env)

    assert source.url.vhost == "communitytc"


def test_joint_sources_split_by_flag() -> None:
    joint = json.dumps(
        [
            json_source(hgmo=True, github=False, tasks=True),
            {"pulse_url": LOCAL_URL, "root_url": "https://community.example.org", "mozci-classification": True},
        ]
    )
    env = {"PULSE_SOURCES": joint}

    (pushes,) = sources_for("pushes", env)
    (tasks,) = sources_for("tasks", env)

    assert pairs(pushes.bindings) == [("exchange/hgpushes/v1", "#")]
    assert pairs(tasks.bindings) == [(exchange, "#.#") for exchange in TASK_EXCHANGES]


def test_specific_variable_beats_joint(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(
        PULSE_SOURCES=json.dumps([json_source(hgmo=True)]),
        PULSE_PUSH_SOURCES="exchange/taskcluster-github/v1/push.#",
    )

    (source,) = sources_for("pushes", env)

    assert pairs(source.bindings) == [("exchange/taskcluster-github/v1/push", "#")]


def test_json_without_flags_rejected(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_PUSH_SOURCES=json.dumps([json_source()]))

    with pytest.raises(ConfigurationError) as caught:
        sources_for("pushes", env)

    assert caught.value.variable == "PULSE_PUSH_SOURCES"


@pytest.mark.parametrize(
    "document",
    [
        "[",
        "[1]",
        json.dumps([{"root_url": "https://x", "hgmo": True}]),
        json.dumps([json_source(hgmo=True, colour="red")]),
        json.dumps([json_source(hgmo=True, vhost="")]),
    ],
)
def test_json_rejects_invalid(document: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_json_sources(document, "PULSE_PUSH_SOURCES", ("hgmo",))

    assert caught.value.variable.startswith("PULSE_PUSH_SOURCES")


def test_json_job_sources_rejected(make_env: Callable[..., dict[str, str]]) -> None:
    env = make_env(PULSE_JOB_SOURCES=json.dumps([json_source(tasks=True)]))

    with pytest.raises(ConfigurationError) as caught:
        sources_for("jobs", env)

    assert caught.value.variable == "PULSE_JOB_SOURCES"


def test_json_error_hides_password() -> None:
    document = json.dumps([{"pulse_url": "http://user:hunter2@host/", "root_url": "https://x", "hgmo": True}])

    with pytest.raises(ConfigurationError) as caught:
        parse_json_sources(document, "PULSE_PUSH_SOURCES", ("hgmo",))

    assert "hunter2" not in str(caught.value)

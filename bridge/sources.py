"""Pulse source settings: the exchanges and routing keys each listener binds, in both Treeherder formats.

Two formats are accepted, distinguished by a leading ``[``:

- A comma-separated list of ``<exchange>.<routing key>[:<routing key>...]``. The
  exchange ends at the first ``.``, because Pulse exchange names use ``/`` as
  separator and contain no ``.``. Example: ``exchange/hgpushes/v1.#``.
- A JSON list of source objects ``{"pulse_url", "root_url", "vhost", "hgmo",
  "github", "tasks"}``, as current Treeherder reads it. The flags select fixed
  exchange sets (see ``flag_bindings``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.urls import PulseUrl, parse_pulse_url
from streams.errors import ConfigurationError

logger = logging.getLogger(__name__)

#: Taskcluster deployment whose events Treeherder ingests by default.
DEFAULT_ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"

HG_PUSH_EXCHANGE = "exchange/hgpushes/v1"
GITHUB_PUSH_EXCHANGE = "exchange/taskcluster-github/v1/push"
GITHUB_PULL_REQUEST_EXCHANGE = "exchange/taskcluster-github/v1/pull-request"
PULSE_JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"
TASK_EXCHANGES = tuple(
    f"exchange/taskcluster-queue/v1/task-{event}"
    for event in ("defined", "pending", "running", "completed", "failed", "exception")
)

DEFAULT_PUSH_SOURCES = f"{GITHUB_PUSH_EXCHANGE}.#,{GITHUB_PULL_REQUEST_EXCHANGE}.#,{HG_PUSH_EXCHANGE}.#"
DEFAULT_JOB_SOURCES = f"{PULSE_JOB_EXCHANGE}.#"
DEFAULT_TASK_SOURCES = ",".join(f"{exchange}.#" for exchange in TASK_EXCHANGES)

#: Routing-key prefix of job and task bindings. Taskcluster routing keys have many
#: words, and ``#.`` makes a configured pattern match at the end of the key.
JOB_KEY_PREFIX = "#."

_SOURCE_KEYS = {"pulse_url", "root_url", "vhost", "hgmo", "github", "tasks", "mozci-classification"}


@dataclass(frozen=True, order=True)
class Binding:
    """One queue binding: an exchange and a routing-key pattern."""

    exchange: str
    routing_key: str


@dataclass(frozen=True)
class Source:
    """One Pulse connection with the Taskcluster root URL of its messages and its bindings."""

    url: PulseUrl
    root_url: str
    bindings: tuple[Binding, ...]


def is_json_sources(raw: str) -> bool:
    """Return whether a source variable contains the JSON list format."""
    return raw.lstrip().startswith("[")


def parse_binding_list(raw: str, variable: str, key_prefix: str = "") -> tuple[Binding, ...]:
    """Parse the comma format into bindings, adding ``key_prefix`` to every routing key."""
    bindings: list[Binding] = []

    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue

        exchange, dot, keys = entry.partition(".")
        if not dot or not exchange:
            raise ConfigurationError(
                variable, f"invalid source {entry!r}; expected <exchange>.<routing key>[:<routing key>...]"
            )

        for key in keys.split(":"):
            if not key:
                raise ConfigurationError(variable, f"empty routing key in source {entry!r}")
            bindings.append(Binding(exchange, key_prefix + key))

    if not bindings:
        raise ConfigurationError(variable, "contains no source")
    return _unique(bindings)


def flag_bindings(source: Mapping[str, Any], flags: Iterable[str]) -> tuple[Binding, ...]:
    """Return the bindings selected by the true ones among ``flags`` of a JSON source object.

    ``hgmo`` binds ``exchange/hgpushes/v1`` with ``#``; ``github`` binds the
    taskcluster-github push and pull-request exchanges with ``#``; ``tasks`` binds
    the six ``exchange/taskcluster-queue/v1/task-*`` exchanges with ``#.#``.
    """
    bindings: list[Binding] = []
    for flag in flags:
        if not source.get(flag):
            continue
        if flag == "hgmo":
            bindings.append(Binding(HG_PUSH_EXCHANGE, "#"))
        elif flag == "github":
            bindings.append(Binding(GITHUB_PUSH_EXCHANGE, "#"))
            bindings.append(Binding(GITHUB_PULL_REQUEST_EXCHANGE, "#"))
        elif flag == "tasks":
            bindings.extend(Binding(exchange, JOB_KEY_PREFIX + "#") for exchange in TASK_EXCHANGES)
    return _unique(bindings)


def parse_json_sources(
    raw: str,
    variable: str,
    flags: Iterable[str],
    default_flags: Mapping[str, bool] | None = None,
) -> tuple[Source, ...]:
    """Parse a JSON list of source objects, keeping those whose ``flags`` select any binding.

    ``default_flags`` gives the value of a flag that an object leaves out. ``vhost``,
    when present, replaces the vhost of ``pulse_url``.
    """
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigurationError(variable, f"invalid JSON: {error}") from None
    if not isinstance(document, list):
        raise ConfigurationError(variable, "expected a JSON list of source objects")

    wanted = tuple(flags)
    sources: list[Source] = []

    for index, item in enumerate(document):
        where = f"source {index}"
        if not isinstance(item, dict):
            raise ConfigurationError(variable, f"{where} is not a JSON object")

        unknown = sorted(set(item) - _SOURCE_KEYS)
        if unknown:
            raise ConfigurationError(variable, f"{where} has unknown keys {unknown}")
        if item.get("mozci-classification"):
            logger.warning("%s: %s sets mozci-classification, which the bridge does not relay", variable, where)

        for required in ("pulse_url", "root_url"):
            if not isinstance(item.get(required), str) or not item[required].strip():
                raise ConfigurationError(variable, f"{where} needs a non-empty string {required!r}")

        url = parse_pulse_url(item["pulse_url"], f"{variable} ({where} pulse_url)")
        vhost = item.get("vhost")
        if vhost is not None:
            if not isinstance(vhost, str) or not vhost:
                raise ConfigurationError(variable, f"{where} has an invalid vhost {vhost!r}")
            url = url.with_vhost(vhost)

        merged = {**(default_flags or {}), **item}
        bindings = flag_bindings(merged, wanted)
        if bindings:
            sources.append(Source(url=url, root_url=item["root_url"].strip(), bindings=bindings))

    return tuple(sources)


def _unique(bindings: Iterable[Binding]) -> tuple[Binding, ...]:
    """Drop repeated bindings, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(bindings))

"""Bridge settings read from the environment, compatible with Treeherder's Pulse variables."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.sources import (
    DEFAULT_JOB_SOURCES,
    DEFAULT_PUSH_SOURCES,
    DEFAULT_ROOT_URL,
    DEFAULT_TASK_SOURCES,
    JOB_KEY_PREFIX,
    Binding,
    Source,
    is_json_sources,
    parse_binding_list,
    parse_json_sources,
)
from bridge.urls import PulseUrl, parse_pulse_url
from streams.envconfig import env_bool, env_float, env_int, env_str
from streams.errors import ConfigurationError

#: Listener kinds in the order the CLI starts them.
KINDS = ("pushes", "jobs", "tasks")

_TOPIC_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")

# Per kind: queue-name variable, topic variable and default topic.
_QUEUE_VARIABLES = {
    "pushes": "PULSE_PUSH_QUEUE_NAME",
    "jobs": "PULSE_JOB_QUEUE_NAME",
    "tasks": "PULSE_TASK_QUEUE_NAME",
}
_TOPIC_VARIABLES = {
    "pushes": ("RAW_PUSH_TOPIC", "pulse-raw-pushes"),
    "jobs": ("RAW_JOB_TOPIC", "pulse-raw-jobs"),
    "tasks": ("RAW_TASK_TOPIC", "pulse-raw-tasks"),
}


@dataclass(frozen=True)
class ListenerConfig:
    """One AMQP queue of one Pulse source and the Kafka topic its deliveries go to."""

    kind: str
    queue: str
    topic: str
    url: PulseUrl
    root_url: str
    bindings: tuple[Binding, ...]
    auto_delete: bool


@dataclass(frozen=True)
class BridgeConfig:
    """All bridge settings; each field names the environment variable it comes from."""

    listeners: tuple[ListenerConfig, ...]
    #: KAFKA_BOOTSTRAP_SERVERS: comma-separated host:port list.
    bootstrap_servers: str = "127.0.0.1:19092"
    #: BRIDGE_PREFETCH: AMQP basic.qos prefetch count per listener, the bound on unacked deliveries.
    prefetch: int = 500
    #: BRIDGE_MAX_IN_FLIGHT: Kafka sends awaiting confirmation at once, over all listeners.
    max_in_flight: int = 1000
    #: BRIDGE_SEND_TIMEOUT: seconds one send may wait for Kafka before it is retried.
    send_timeout: float = 30.0
    #: BRIDGE_METRICS_PORT: Prometheus port on 127.0.0.1; 0 turns the endpoint off.
    metrics_port: int = 0
    #: BRIDGE_DATA_DIR: folder of the binding state files.
    data_dir: Path = Path("var/bridge")
    #: BRIDGE_STATS_INTERVAL: seconds between the log lines with counts and queue depth.
    stats_interval: float = 60.0
    #: BRIDGE_DRAIN_TIMEOUT: seconds a shutdown waits for sends in flight before it gives up.
    drain_timeout: float = 30.0
    #: PULSE_HEARTBEAT: AMQP heartbeat in seconds; 0 turns heartbeats off.
    heartbeat: int = 60


def load_config(
    kinds: Iterable[str] = ("pushes", "jobs"),
    environ: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> BridgeConfig:
    """Build the settings of the listeners of ``kinds`` from ``environ`` (default: os.environ)."""
    host = hostname if hostname is not None else socket.gethostname()
    auto_delete = env_bool("PULSE_AUTO_DELETE_QUEUES", False, environ)

    listeners: list[ListenerConfig] = []
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown listener kind {kind!r}; expected one of {KINDS}")
        listeners.extend(_listeners_of(kind, environ, host, auto_delete))
    _check_unique_queues(listeners)

    prefetch = env_int("BRIDGE_PREFETCH", 500, environ, minimum=1)
    if prefetch > 65535:
        raise ConfigurationError("BRIDGE_PREFETCH", f"must be at most 65535 (AMQP limit), got {prefetch}")
    metrics_port = env_int("BRIDGE_METRICS_PORT", 0, environ, minimum=0)
    if metrics_port > 65535:
        raise ConfigurationError("BRIDGE_METRICS_PORT", f"must be at most 65535, got {metrics_port}")

    bootstrap = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092", environ).strip()
    if not bootstrap:
        raise ConfigurationError("KAFKA_BOOTSTRAP_SERVERS", "is empty; set it to HOST:PORT[,HOST:PORT...]")

    return BridgeConfig(
        listeners=tuple(listeners),
        bootstrap_servers=bootstrap,
        prefetch=prefetch,
        max_in_flight=env_int("BRIDGE_MAX_IN_FLIGHT", 1000, environ, minimum=1),
        send_timeout=env_float("BRIDGE_SEND_TIMEOUT", 30.0, environ, minimum=0.1),
        metrics_port=metrics_port,
        data_dir=Path(env_str("BRIDGE_DATA_DIR", "var/bridge", environ)),
        stats_interval=env_float("BRIDGE_STATS_INTERVAL", 60.0, environ, minimum=0.1),
        drain_timeout=env_float("BRIDGE_DRAIN_TIMEOUT", 30.0, environ, minimum=0.0),
        heartbeat=env_int("PULSE_HEARTBEAT", 60, environ, minimum=0),
    )


def sources_for(kind: str, environ: Mapping[str, str] | None = None) -> tuple[Source, ...]:
    """Return the Pulse sources of one listener kind.

    Pushes come from ``PULSE_PUSH_SOURCES``, else from the ``hgmo`` and ``github``
    flags of ``PULSE_SOURCES``, else from the default push exchanges. Tasks come
    from ``PULSE_TASK_SOURCES`` (where ``tasks`` defaults to true, because
    Treeherder's task listener binds every source), else from the ``tasks`` flag of
    ``PULSE_SOURCES``. Jobs come from ``PULSE_JOB_SOURCES`` in the comma format only.
    Job and task routing keys of the comma format get the ``#.`` prefix.
    """
    if kind == "pushes":
        sources = _read_sources("PULSE_PUSH_SOURCES", DEFAULT_PUSH_SOURCES, environ, ("hgmo", "github"), "")
    elif kind == "jobs":
        raw = env_str("PULSE_JOB_SOURCES", "", environ)
        if is_json_sources(raw):
            raise ConfigurationError(
                "PULSE_JOB_SOURCES", "JSON source objects are not supported here; use <exchange>.<routing key>"
            )
        sources = _read_sources("PULSE_JOB_SOURCES", DEFAULT_JOB_SOURCES, environ, (), JOB_KEY_PREFIX)
    elif kind == "tasks":
        sources = _read_sources(
            "PULSE_TASK_SOURCES", DEFAULT_TASK_SOURCES, environ, ("tasks",), JOB_KEY_PREFIX, {"tasks": True}
        )
    else:
        raise ValueError(f"unknown listener kind {kind!r}; expected one of {KINDS}")
    return sources


def _read_sources(
    variable: str,
    default: str,
    environ: Mapping[str, str] | None,
    flags: tuple[str, ...],
    key_prefix: str,
    default_flags: Mapping[str, bool] | None = None,
) -> tuple[Source, ...]:
    """Read one source variable, falling back to ``PULSE_SOURCES`` and then to ``default``."""
    raw = env_str(variable, "", environ)
    if not raw.strip() and flags:
        joint = env_str("PULSE_SOURCES", "", environ)
        if joint.strip():
            return _nonempty(parse_json_sources(joint, "PULSE_SOURCES", flags), "PULSE_SOURCES", flags)

    if is_json_sources(raw):
        return _nonempty(parse_json_sources(raw, variable, flags, default_flags), variable, flags)

    bindings = parse_binding_list(raw if raw.strip() else default, variable, key_prefix)
    url = parse_pulse_url(env_str("PULSE_URL", "", environ), "PULSE_URL")
    root_url = env_str("PULSE_ROOT_URL", DEFAULT_ROOT_URL, environ).strip()
    if not root_url:
        raise ConfigurationError("PULSE_ROOT_URL", "is empty; set it to the Taskcluster root URL")
    return (Source(url=url, root_url=root_url, bindings=bindings),)


def _nonempty(sources: tuple[Source, ...], variable: str, flags: tuple[str, ...]) -> tuple[Source, ...]:
    """Reject a JSON source list in which no object sets any of ``flags``."""
    if not sources:
        raise ConfigurationError(variable, f"no source object sets any of {list(flags)}")
    return sources


def _listeners_of(
    kind: str, environ: Mapping[str, str] | None, hostname: str, auto_delete: bool
) -> list[ListenerConfig]:
    """Build one listener per source of ``kind``."""
    queue_variable = _QUEUE_VARIABLES[kind]
    queue_name = env_str(queue_variable, f"{kind}-{hostname}", environ).strip()
    if not _QUEUE_NAME_PATTERN.match(queue_name):
        raise ConfigurationError(queue_variable, f"invalid queue name {queue_name!r}")

    topic_variable, topic_default = _TOPIC_VARIABLES[kind]
    topic = env_str(topic_variable, topic_default, environ).strip()
    if not _TOPIC_PATTERN.match(topic):
        raise ConfigurationError(topic_variable, f"invalid Kafka topic name {topic!r}")

    return [
        ListenerConfig(
            kind=kind,
            queue=f"queue/{source.url.user}/{queue_name}",
            topic=topic,
            url=source.url,
            root_url=source.root_url,
            bindings=source.bindings,
            auto_delete=auto_delete,
        )
        for source in sources_for(kind, environ)
    ]


def _check_unique_queues(listeners: list[ListenerConfig]) -> None:
    """Reject two listeners that would consume from the same queue and steal each other's messages."""
    seen: dict[tuple[str, int, str, str], str] = {}
    for listener in listeners:
        identity = (listener.url.host, listener.url.port, listener.url.vhost, listener.queue)
        if identity in seen:
            variable = _QUEUE_VARIABLES[listener.kind]
            raise ConfigurationError(
                variable,
                f"queue {listener.queue!r} on {listener.url.masked()} is used by both the "
                f"{seen[identity]} and {listener.kind} listeners; give each a distinct queue name",
            )
        seen[identity] = listener.kind

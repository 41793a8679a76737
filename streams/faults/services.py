"""Restarts of the run's Kafka, RabbitMQ or PostgreSQL through `python -m stack restart`."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from stack.config import StackConfig
from streams.sinks.database.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

SERVICES = ("kafka", "rabbitmq", "postgres")

# Seconds one `stack restart` may take: the stop timeout plus the start timeout of the stack.
RESTART_TIMEOUT = 300.0

# Characters of the stack command's output kept in the error of a failed restart.
OUTPUT_CHARS = 4000


class StackMismatchError(RuntimeError):
    """The stack that `python -m stack` would restart is not the one the run uses."""


def stack_addresses(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the `host:port` of each service of the stack that ``environ`` selects."""
    client = StackConfig.from_env(environ).client_env()
    return run_addresses(client)


def run_addresses(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the `host:port` of each service that the client variables of ``environ`` name."""
    kafka = environ.get("KAFKA_BOOTSTRAP_SERVERS", "").split(",")[0].strip()
    amqp = urlsplit(environ.get("PULSE_URL", ""))
    database = make_url(environ.get("DATABASE_URL", ""))
    return {
        "kafka": kafka,
        "rabbitmq": f"{amqp.hostname}:{amqp.port}",
        "postgres": f"{database.host}:{database.port}",
    }


def check_same_stack(environ: Mapping[str, str]) -> None:
    """Raise StackMismatchError unless ``environ``'s clients point at the stack its PULSE_STACK_* select."""
    expected = stack_addresses(environ)
    actual = run_addresses(environ)
    differing = [name for name in SERVICES if expected[name] != actual[name]]
    if differing:
        details = ", ".join(f"{name} is {actual[name]} but the stack's is {expected[name]}" for name in differing)
        raise StackMismatchError(
            f"the run does not use the stack that `python -m stack` would restart ({details}); "
            "set the PULSE_STACK_* variables of the run's stack"
        )


def restart_service(name: str, environ: Mapping[str, str]) -> None:
    """Run `python -m stack restart NAME` with ``environ``, after checking it is the run's stack."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    check_same_stack(environ)

    logger.info("Restarting %s at %s", name, run_addresses(environ)[name])
    completed = subprocess.run(
        [sys.executable, "-m", "stack", "restart", name],
        env=dict(environ),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RESTART_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr)[-OUTPUT_CHARS:]
        raise RuntimeError(f"`python -m stack restart {name}` failed with code {completed.returncode}: {output}")
    logger.info("Restarted %s", name)

"""Session fixtures for the local stack's services, shared by every test folder."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from stack.config import StackConfig

# CI values that do not mean "running in CI".
_NOT_CI = {"", "0", "false", "no", "off"}


def in_ci() -> bool:
    """Return True when the CI variable is set to a true value (CI=true in the CI runner)."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def reachable(host: str, port: int) -> bool:
    """Return True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def require_service(name: str, variable: str, host: str, port: int) -> None:
    """Skip the test when the service is down, or fail it in CI, where the stack must run."""
    if reachable(host, port):
        return

    message = (
        f"{name} is not reachable at {host}:{port} (from {variable}); "
        "start the local stack with `pulse-stack up` or `make stack-up`"
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """Client variables: the environment's values, or the local stack defaults."""
    defaults = StackConfig.from_env().client_env()
    return {name: os.environ.get(name) or value for name, value in defaults.items()}


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(stack_env: dict[str, str]) -> str:
    """KAFKA_BOOTSTRAP_SERVERS of a reachable broker (the first address is checked)."""
    servers = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    require_service("Kafka", "KAFKA_BOOTSTRAP_SERVERS", host.strip("[]"), int(port))
    return servers


@pytest.fixture(scope="session")
def pulse_url(stack_env: dict[str, str]) -> str:
    """PULSE_URL of a reachable AMQP broker."""
    url = stack_env["PULSE_URL"]
    parts = urlsplit(url)
    require_service("RabbitMQ", "PULSE_URL", parts.hostname or "127.0.0.1", parts.port or 5672)
    return url


@pytest.fixture(scope="session")
def test_database_url(stack_env: dict[str, str]) -> str:
    """TEST_DATABASE_URL of a reachable PostgreSQL server."""
    url = stack_env["TEST_DATABASE_URL"]
    parsed = make_url(url)
    require_service("PostgreSQL", "TEST_DATABASE_URL", parsed.host or "127.0.0.1", parsed.port or 5432)
    return url

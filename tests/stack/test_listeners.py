"""Integration test that every listener of the local stack is bound to loopback."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from stack.config import StackConfig


def listening_addresses(port: int) -> list[str]:
    """Return the local addresses (without port) that `ss -ltn` shows for ``port``."""
    output = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[3].rsplit(":", 1)[0] for line in output.splitlines() if line.strip()]


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (Debian package iproute2) is not installed")
@pytest.mark.parametrize(
    "service",
    ["kafka_port", "kafka_controller_port", "amqp_port", "amqps_port", "rabbitmq_dist_port", "epmd_port", "postgres_port"],
)
def test_listener_loopback_only(kafka_bootstrap_servers, pulse_url, test_database_url, service):
    config = StackConfig.from_env()
    port = getattr(config, service)

    addresses = listening_addresses(port)

    assert addresses, f"nothing listens on port {port}"
    # epmd always adds the IPv6 loopback address to the addresses it is given.
    allowed = {"127.0.0.1", "[::1]"} if service == "epmd_port" else {"127.0.0.1"}
    assert set(addresses) <= allowed, f"port {port} listens on {addresses}"

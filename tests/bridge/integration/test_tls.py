"""The bridge over amqps: the stack's RabbitMQ TLS listener, trusted through the stack's test CA."""

from __future__ import annotations

import ssl
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bridge_support import BridgeProcess, BridgeSetup, job_messages, message_ids, publish, read_topic
from stack.config import StackConfig
from tests.conftest import require_service

pytestmark = pytest.mark.integration

StartBridge = Callable[..., BridgeProcess]


@pytest.fixture(scope="module")
def stack_tls() -> StackConfig:
    """Settings of the stack whose TLS listener and test CA the tests use."""
    config = StackConfig.from_env()
    require_service("RabbitMQ TLS listener", "PULSE_STACK_AMQPS_PORT", "127.0.0.1", config.amqps_port)
    if not config.tls_ca_file.is_file():
        pytest.fail(f"the stack's test CA {config.tls_ca_file} is missing; run `pulse-stack up` again")
    return config


def amqps_url(pulse_url: str, port: int) -> str:
    """Return ``pulse_url`` with the amqps scheme and the TLS listener's port."""
    parts = urlsplit(pulse_url)
    credentials, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(("amqps", f"{credentials}@127.0.0.1:{port}", parts.path, parts.query, ""))


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA certificate that did not sign the listener's certificate."""
    certificate = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=unrelated test CA", "-keyout", str(tmp_path / "other-ca.key"), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate


@pytest.mark.slow
def test_relay_over_amqps(
    bridge_setup: BridgeSetup, start_bridge: StartBridge, stack_tls: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = amqps_url(bridge_setup.pulse_url, stack_tls.amqps_port)
    ca_file = str(stack_tls.tls_ca_file)
    # OpenSSL reads SSL_CERT_FILE when a client context loads the default trust store.
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    bridge = start_bridge(env={**bridge_setup.env, "PULSE_URL": url, "SSL_CERT_FILE": ca_file})
    bridge.wait_consuming()

    publish(url, job_messages(0, 100))
    records = read_topic(bridge_setup.bootstrap_servers, bridge_setup.topic, 100)
    counts = Counter(message_ids(records))

    assert set(counts) == {f"m-{index}" for index in range(100)}
    assert max(counts.values()) == 1
    assert "amqps://" in bridge.log()
    assert bridge.terminate() == 0


def test_amqps_rejects_unknown_ca(
    pulse_url: str, stack_tls: StackConfig, other_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))

    with pytest.raises(ssl.SSLCertVerificationError):
        publish(amqps_url(pulse_url, stack_tls.amqps_port), job_messages(0, 1))

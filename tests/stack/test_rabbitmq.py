"""Tests for the RabbitMQ service: rendered config and a round trip on a Pulse exchange."""

from __future__ import annotations

import subprocess
import uuid

import kombu
import pytest

from stack.config import PULSE_EXCHANGES
from stack.rabbitmq import create_test_certificates, render_config


def test_config_binds_loopback(make_config):
    assert "listeners.tcp.default = 127.0.0.1:19672" in render_config(make_config()).splitlines()


def test_config_tls_listener_on_loopback(make_config):
    config = make_config()
    lines = render_config(config).splitlines()

    assert "listeners.ssl.default = 127.0.0.1:19671" in lines
    assert f"ssl_options.cacertfile = {config.tls_ca_file}" in lines
    assert f"ssl_options.certfile = {config.tls_dir / 'server.pem'}" in lines


def test_test_ca_signs_listener_certificate(tmp_path):
    folder = tmp_path / "tls"
    create_test_certificates(folder)

    for check in (["-verify_ip", "127.0.0.1"], ["-verify_hostname", "localhost"]):
        result = subprocess.run(
            ["openssl", "verify", "-CAfile", str(folder / "ca.pem"), *check, str(folder / "server.pem")],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_test_certificates_kept(tmp_path):
    folder = tmp_path / "tls"
    create_test_certificates(folder)
    first = (folder / "ca.pem").read_bytes()

    create_test_certificates(folder)

    assert (folder / "ca.pem").read_bytes() == first


def test_config_creates_pulse_user(make_config):
    lines = render_config(make_config()).splitlines()

    assert "default_vhost = pulse" in lines
    assert "default_user = pulse-local" in lines


@pytest.mark.integration
def test_amqp_round_trip(pulse_url):
    exchange = kombu.Exchange("exchange/hgpushes/v1", type="topic", passive=True)
    routing_key = f"stack-test.{uuid.uuid4().hex[:8]}"
    payload = {"payload": {"pushlog_pushes": []}, "marker": uuid.uuid4().hex}
    received: list[object] = []

    with kombu.Connection(pulse_url) as connection:
        queue = kombu.Queue(
            f"stack-test-{uuid.uuid4().hex[:8]}", exchange=exchange, routing_key=routing_key, exclusive=True
        )
        queue(connection.channel()).declare()

        with connection.Producer() as producer:
            producer.publish(payload, exchange=exchange, routing_key=routing_key, serializer="json")

        def on_message(body, message):
            received.append(body)
            message.ack()

        with connection.Consumer(queue, callbacks=[on_message]):
            connection.drain_events(timeout=30)

    assert received == [payload]


@pytest.mark.integration
@pytest.mark.parametrize("name", PULSE_EXCHANGES)
def test_pulse_exchange_declared(pulse_url, name):
    with kombu.Connection(pulse_url) as connection:
        # A passive declare raises NotFound (404) when the exchange does not exist.
        kombu.Exchange(name, type="topic", passive=True, channel=connection.channel()).declare()

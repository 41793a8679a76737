"""Tests of PULSE_URL parsing and password masking."""

from __future__ import annotations

import pytest

from bridge.urls import mask_url, parse_pulse_url
from streams.errors import ConfigurationError


def test_parse_local_url() -> None:
    url = parse_pulse_url("amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse")

    assert url.host == "127.0.0.1"
    assert url.port == 19672
    assert url.user == "pulse-local"
    assert url.password == "pulse-local"
    assert url.vhost == "pulse"
    assert url.ssl is False


def test_parse_ssl_query() -> None:
    url = parse_pulse_url("amqp://user:secret@pulse.example.org:5671/?ssl=1")

    assert url.ssl is True
    assert url.vhost == "/"


def test_parse_amqps_default_port() -> None:
    url = parse_pulse_url("amqps://user:secret@pulse.example.org")

    assert url.port == 5671
    assert url.ssl is True


def test_parse_encoded_vhost() -> None:
    url = parse_pulse_url("amqp://user:pw@host/%2Fcommunity")

    assert url.vhost == "/community"


@pytest.mark.parametrize(
    "raw",
    ["", "http://user:secret@host/", "amqp://host:5672/", "amqp://user:secret@:5672/", "amqp://user:secret@host:99999/"],
)
def test_parse_rejects_invalid(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_pulse_url(raw)

    assert caught.value.variable == "PULSE_URL"
    assert "secret" not in str(caught.value)


def test_masked_hides_password() -> None:
    url = parse_pulse_url("amqp://pulse-local:s3cr%40t@127.0.0.1:19672/pulse")

    assert url.masked() == "amqp://pulse-local:***@127.0.0.1:19672/pulse"
    assert "s3cr" not in repr(url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://u:p@h/v", "amqp://u:***@h/v"),
        ("failed: amqps://user:pa@ss@host:5671/ now", "failed: amqps://user:***@host:5671/ now"),
        ("no url here", "no url here"),
        ("amqp://host:5672/", "amqp://host:5672/"),
    ],
)
def test_mask_url_in_text(text: str, expected: str) -> None:
    assert mask_url(text) == expected

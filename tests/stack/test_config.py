"""Unit tests for the stack settings read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import REPO_ROOT, StackConfig
from streams.errors import ConfigurationError


def test_config_defaults(make_config):
    config = make_config()

    assert config.kafka_version == "3.9.2"
    assert config.kafka_port == 19092
    assert config.kafka_controller_port == 19093
    assert config.amqp_port == 19672
    assert config.amqps_port == 19671
    assert config.rabbitmq_dist_port == 19673
    assert config.epmd_port == 19369
    assert config.postgres_port == 19432


def test_config_state_dir_default():
    config = StackConfig.from_env({})

    assert config.state_dir == REPO_ROOT / ".stack"


def test_config_state_dir_override(tmp_path: Path):
    config = StackConfig.from_env({"PULSE_STACK_DIR": str(tmp_path / "elsewhere")})

    assert config.state_dir == tmp_path / "elsewhere"


def test_amqps_port_follows_amqp_port(make_config):
    assert make_config(PULSE_STACK_AMQP_PORT="22672").amqps_port == 22671


def test_amqps_port_override(make_config):
    assert make_config(PULSE_STACK_AMQPS_PORT="25671").amqps_port == 25671


def test_config_port_override(make_config):
    config = make_config(PULSE_STACK_KAFKA_PORT="29092", PULSE_STACK_POSTGRES_PORT="25432")

    assert config.kafka_bootstrap == "127.0.0.1:29092"
    assert config.postgres_port == 25432


def test_config_invalid_port(make_config):
    with pytest.raises(ConfigurationError) as caught:
        make_config(PULSE_STACK_AMQP_PORT="amqp")

    assert caught.value.variable == "PULSE_STACK_AMQP_PORT"


def test_config_negative_timeout(make_config):
    with pytest.raises(ConfigurationError) as caught:
        make_config(PULSE_STACK_START_TIMEOUT="-1")

    assert caught.value.variable == "PULSE_STACK_START_TIMEOUT"


def test_client_env_matches_contract(make_config):
    client = make_config().client_env()

    assert client["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert client["PULSE_URL"] == "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"
    assert client["DATABASE_URL"] == (
        "postgresql+asyncpg://pulse_ingest:pulse_ingest@127.0.0.1:19432/pulse_ingest"
    )
    assert client["TEST_DATABASE_URL"] == (
        "postgresql+asyncpg://pulse_ingest:pulse_ingest@127.0.0.1:19432/pulse_ingest_test"
    )


def test_client_env_follows_ports(make_config):
    client = make_config(PULSE_STACK_AMQP_PORT="45672").client_env()

    assert client["PULSE_URL"] == "amqp://pulse-local:pulse-local@127.0.0.1:45672/pulse"

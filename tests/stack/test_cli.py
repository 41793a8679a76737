"""Tests for the pulse-stack command line on an empty state folder."""

from __future__ import annotations

import os

import pytest

from stack.cli import EXIT_NOT_ALL_UP, export_lines, main, mask_password


@pytest.fixture
def empty_state(tmp_path, monkeypatch):
    """Point the stack at an empty state folder, so no running service is touched."""
    state = tmp_path / "state"
    monkeypatch.setenv("PULSE_STACK_DIR", str(state))

    # Port overrides of the calling shell would change the printed addresses.
    for name in [name for name in os.environ if name.startswith("PULSE_STACK_") and name.endswith("_PORT")]:
        monkeypatch.delenv(name)
    return state


def test_env_prints_exports(empty_state, capsys):
    assert main(["env"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092" in lines
    assert "export PULSE_URL=amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse" in lines


def test_status_all_down(empty_state, capsys):
    assert main(["status"]) == EXIT_NOT_ALL_UP

    output = capsys.readouterr().out
    assert output.count(" down ") == 3


def test_down_when_already_down(empty_state, capsys):
    assert main(["down"]) == 0

    assert capsys.readouterr().out.count("already stopped") == 3


def test_down_one_service(empty_state, capsys):
    assert main(["down", "kafka"]) == 0

    output = capsys.readouterr().out
    assert "kafka" in output
    assert "rabbitmq" not in output


def test_unknown_service_rejected(empty_state):
    with pytest.raises(SystemExit):
        main(["up", "zookeeper"])


def test_invalid_setting_exit_code(empty_state, monkeypatch):
    monkeypatch.setenv("PULSE_STACK_KAFKA_PORT", "many")

    assert main(["status"]) == 1


def test_mask_password_hides_secret():
    masked = mask_password("amqp://user:secret@127.0.0.1:19672/pulse")

    assert masked == "amqp://user:***@127.0.0.1:19672/pulse"


def test_mask_password_without_password():
    assert mask_password("amqp://127.0.0.1:19672/pulse") == "amqp://127.0.0.1:19672/pulse"


def test_export_lines_one_per_variable(make_config):
    lines = export_lines(make_config()).splitlines()

    assert len(lines) == 4
    assert all(line.startswith("export ") for line in lines)

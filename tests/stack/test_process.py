"""Unit tests for PID files, stops by PID and the wait helper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stack.errors import StackError
from stack.process import pid_alive, read_pid, run, start_detached, stop_pid, wait_until, write_pid


@pytest.fixture
def make_sleeper(tmp_path: Path):
    """Start detached Python processes that sleep, and kill any left at the end."""
    started: list[int] = []

    def start(ignore_term: bool = False) -> int:
        code = "import signal, time\n"
        if ignore_term:
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "print('ready', flush=True)\ntime.sleep(600)\n"
        log = tmp_path / f"sleeper-{len(started)}.log"
        pid = start_detached([sys.executable, "-c", code], log)
        started.append(pid)
        wait_until(lambda: "ready" in log.read_text(), 30.0, "sleeper start")
        return pid

    yield start

    for pid in started:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_pid_file_round_trip(tmp_path: Path):
    path = tmp_path / "service.pid"
    write_pid(path, 1234)

    assert read_pid(path) == 1234


def test_pid_file_missing(tmp_path: Path):
    assert read_pid(tmp_path / "absent.pid") is None


def test_pid_file_garbage(tmp_path: Path):
    path = tmp_path / "service.pid"
    path.write_text("not a pid\n")

    assert read_pid(path) is None


def test_pid_alive_self():
    assert pid_alive(os.getpid())


def test_pid_alive_none():
    assert not pid_alive(None)


def test_pid_alive_exited():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert not pid_alive(child.pid)


def test_stop_pid_term(make_sleeper):
    pid = make_sleeper()

    assert stop_pid(pid, "sleeper", timeout=30.0)
    assert not pid_alive(pid)


def test_stop_pid_escalates_to_kill(make_sleeper):
    pid = make_sleeper(ignore_term=True)

    assert stop_pid(pid, "sleeper", timeout=0.5)
    assert not pid_alive(pid)


def test_stop_pid_already_gone():
    assert not stop_pid(None, "nothing", timeout=1.0)


def test_wait_until_times_out():
    with pytest.raises(StackError, match="timed out"):
        wait_until(lambda: False, 0.3, "never true")


def test_wait_until_process_exit():
    with pytest.raises(StackError, match="exited"):
        wait_until(lambda: False, 60.0, "dead process", alive=lambda: False)


def test_run_failure_carries_output():
    with pytest.raises(StackError, match="boom"):
        run([sys.executable, "-c", "import sys; print('boom'); sys.exit(2)"], "failing step")


def test_run_missing_program():
    with pytest.raises(StackError, match="not found"):
        run(["/nonexistent/program"], "missing step")


def test_wait_until_names_log(tmp_path: Path):
    with pytest.raises(StackError, match="server.out"):
        wait_until(lambda: False, 60.0, "dead process", alive=lambda: False, log_path=tmp_path / "server.out")

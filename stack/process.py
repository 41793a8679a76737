"""PID files, detached starts, stops by PID and wait helpers for the stack's servers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from stack.errors import StackError

logger = logging.getLogger(__name__)

# Seconds between two checks in the wait helpers.
POLL_INTERVAL = 0.2


def read_pid(path: Path) -> int | None:
    """Return the PID stored in the first line of ``path``, or None when there is none."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    return int(first) if first.isdigit() else None


def write_pid(path: Path, pid: int) -> None:
    """Store ``pid`` in ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def pid_alive(pid: int | None) -> bool:
    """Return True when ``pid`` names a live process (a zombie counts as dead)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def owned_pid(pid: int | None, marker: str) -> int | None:
    """Return ``pid`` when it is alive and its command line contains ``marker``, else None.

    The check keeps `down` from signalling an unrelated process that reused a stale PID.
    """
    if not pid_alive(pid):
        return None
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return None
    if marker not in command_line:
        logger.warning("PID %s runs %r, not %r; ignoring the stale PID file", pid, command_line[:200], marker)
        return None
    return pid


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Return True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_detached(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session with output appended to ``log_path``; return its PID.

    The child outlives this process, so `pulse-stack up` can return while the server runs.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    logger.info("started %s as PID %d, output in %s", argv[0], child.pid, log_path)
    return child.pid


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    description: str,
    alive: Callable[[], bool] | None = None,
    log_path: Path | None = None,
) -> None:
    """Call ``check`` until it returns True; raise StackError after ``timeout`` seconds.

    When ``alive`` returns False the wait ends at once, because the process has exited.
    The error names ``log_path`` when it is given.
    """
    read_log = f"read {log_path}" if log_path is not None else "read its log"
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise StackError(f"{description}: the process exited; {read_log}")
        if time.monotonic() >= deadline:
            raise StackError(f"{description}: timed out after {timeout:.0f} s; {read_log}")
        time.sleep(POLL_INTERVAL)



def retry_check(
    check: Callable[[], None],
    alive: Callable[[], bool],
    timeout: float,
    description: str,
    hint: str,
) -> None:
    """Call ``check`` once a second until it returns without raising.

    Raise StackError naming ``description``, the last error and ``hint`` once the process
    has exited or ``timeout`` seconds have passed. Any exception counts as a failed check, because the
    client libraries (aiokafka, kombu, asyncpg) raise their own error types besides OSError.
    """
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            check()
            return
        except Exception as error:  # noqa: BLE001
            if not alive() or time.monotonic() >= deadline:
                raise StackError(f"{description} failed ({error!r}); {hint}") from error
            logger.info("%s failed on attempt %d (%r); retrying", description, attempt, error)
            time.sleep(1.0)

def stop_pid(pid: int | None, name: str, timeout: float, first_signal: int = signal.SIGTERM) -> bool:
    """Send ``first_signal`` to ``pid``, then SIGKILL after ``timeout`` seconds.

    Return True when a live process was stopped, False when it was already gone.
    """
    if not pid_alive(pid):
        return False
    assert pid is not None

    logger.info("stopping %s (PID %d) with %s", name, pid, signal.Signals(first_signal).name)
    try:
        os.kill(pid, first_signal)
    except ProcessLookupError:
        return True

    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    if not pid_alive(pid):
        return True

    logger.warning("%s (PID %d) still runs after %.0f s; sending SIGKILL", name, pid, timeout)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    wait_until(lambda: not pid_alive(pid), 10.0, f"{name} (PID {pid}) after SIGKILL")
    return True


def run(argv: Sequence[str], description: str, env: Mapping[str, str] | None = None, **kwargs) -> str:
    """Run ``argv`` to completion and return its output; raise StackError with the output on failure."""
    logger.debug("running %s", " ".join(argv))
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            **kwargs,
        )
    except FileNotFoundError as error:
        raise StackError(f"{description}: {argv[0]} not found ({error})") from error

    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise StackError(f"{description} failed with exit code {done.returncode}: {output[-2000:]}")
    return done.stdout

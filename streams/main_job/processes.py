"""Subprocesses of a run (bridge, worker): start with a log file, stop with SIGTERM then SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

# Seconds a subprocess gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 30.0

# Lines of a subprocess log shown when it exits before it should.
TAIL_LINES = 20


class ManagedProcess:
    """One child process whose output goes to a log file; use it as a context manager."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the process in its own session, so a Ctrl-C reaches only the main job."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logger.info("Started %s as PID %d, output in %s", self.name, self._process.pid, self.log_path)

    @property
    def pid(self) -> int | None:
        """Process id of a started process."""
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """Return the exit code once the process ended, else None."""
        if self._process is None:
            return None
        return self._process.poll()

    def stop(self) -> None:
        """Send SIGTERM, wait up to STOP_TIMEOUT seconds, then SIGKILL; safe to call twice."""
        process = self._process
        if process is None:
            return

        if process.poll() is None:
            logger.info("Stopping %s (PID %d)", self.name, process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("%s (PID %d) did not stop within %.0f s; killing it", self.name, process.pid, STOP_TIMEOUT)
                process.kill()
                process.wait()

        logger.info("%s (PID %d) exited with code %s", self.name, process.pid, process.returncode)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = TAIL_LINES) -> str:
        """Return the last lines of the log file."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """Return this process's environment with ``overrides`` applied."""
    return {**os.environ, **overrides}

"""Common shape of a stack service: start, stop, status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ServiceStatus:
    """State of one service as `pulse-stack status` prints it."""

    name: str
    up: bool
    pid: int | None
    address: str
    detail: str = ""

    def line(self) -> str:
        """Format the status as one line of text."""
        state = "up" if self.up else "down"
        pid = f"PID {self.pid}" if self.pid is not None else "no PID"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.name:<10} {state:<5} {pid:<11} {self.address}{extra}"


class Service(Protocol):
    """A server that the stack installs, starts, checks and stops."""

    name: str

    def start(self) -> str:
        """Start the server unless it runs, wait for its readiness check and return a summary."""
        ...

    def stop(self) -> str:
        """Stop the server by PID if it runs and return a summary."""
        ...

    def status(self) -> ServiceStatus:
        """Return whether the server runs and where it listens."""
        ...

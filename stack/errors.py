"""Error raised when a stack command cannot do its work."""

from __future__ import annotations

from streams.errors import PulseIngestError


class StackError(PulseIngestError):
    """A service failed to install, start, pass its readiness check or stop.

    The message names the failed step and what to do next.
    """

"""Settings of the pushlog poller, read from environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.envconfig import env_float, env_str


@dataclass(frozen=True)
class PollerSettings:
    """Poll interval and state file of the pushlog poller."""

    # PUSHLOG_POLL_INTERVAL: seconds between the starts of two polls of every repository.
    interval: float = 300.0

    # PUSHLOG_STATE_FILE: JSON file that keeps the last emitted push id per repository across
    # restarts. Unset keeps it in memory only, so a restart emits the last 10 pushes again
    # (push upserts make that harmless).
    state_file: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PollerSettings:
        """Read the settings, raising ConfigurationError that names the invalid variable."""
        state_raw = env_str("PUSHLOG_STATE_FILE", "", environ).strip()
        return cls(
            interval=env_float("PUSHLOG_POLL_INTERVAL", cls.interval, environ, minimum=1.0),
            state_file=Path(state_raw) if state_raw else None,
        )

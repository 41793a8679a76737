"""Settings of the pushlog poller, read from environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.envconfig import env_float, env_str

# The bridge's default of PULSE_ROOT_URL, the root URL of Firefox CI.
DEFAULT_ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"


@dataclass(frozen=True)
class PollerSettings:
    """Poll interval and state file of the pushlog poller."""

    # PUSHLOG_POLL_INTERVAL: seconds between the starts of two polls of every repository.
    # 0 (the default) disables the poller in the worker, so that nothing calls hg.mozilla.org
    # unless configured to; Treeherder polls every 300 s.
    interval: float = 0.0

    # PUSHLOG_STATE_FILE: JSON file that keeps the last emitted push id per repository across
    # restarts. Unset keeps it in memory only, so a restart emits the last 10 pushes again
    # (push upserts make that harmless).
    state_file: Path | None = None

    # PULSE_ROOT_URL: Taskcluster root URL written to the `pulse.root_url` header of the
    # polled pushes, as the bridge writes it for the pushes it relays.
    root_url: str = DEFAULT_ROOT_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PollerSettings:
        """Read the settings, raising ConfigurationError that names the invalid variable."""
        state_raw = env_str("PUSHLOG_STATE_FILE", "", environ).strip()
        return cls(
            interval=env_float("PUSHLOG_POLL_INTERVAL", cls.interval, environ, minimum=0.0),
            state_file=Path(state_raw) if state_raw else None,
            root_url=env_str("PULSE_ROOT_URL", cls.root_url, environ).strip() or cls.root_url,
        )

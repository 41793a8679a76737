"""Settings of the HTTP lookup layer, read from environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.envconfig import env_float, env_int, env_str
from streams.errors import ConfigurationError

DEFAULT_GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class LookupSettings:
    """Timeouts, retry policy, cache size and base URLs of the upstream lookups."""

    # LOOKUP_TIMEOUT: seconds one HTTP request may take, from connect to the last body byte.
    timeout: float = 10.0

    # LOOKUP_RETRIES: retries after the first attempt when a request times out, cannot
    # connect, or gets HTTP 429 or 5xx. 0 disables retries.
    retries: int = 4

    # LOOKUP_BACKOFF_INITIAL: upper bound in seconds of the delay before the first retry. The
    # bound doubles per retry, and each delay is drawn between half the bound and the bound.
    backoff_initial: float = 0.5

    # LOOKUP_BACKOFF_MAX: upper bound in seconds of any delay between two attempts.
    backoff_max: float = 10.0

    # LOOKUP_CACHE_SIZE: responses kept in the in-memory LRU cache; 0 disables the cache.
    # Only responses that cannot change are cached (task definitions, finished artifact
    # lists, json-pushes ranges, GitHub compares).
    cache_size: int = 1024

    # LOOKUP_MAX_PAGES: most pages followed for one paginated listing (Taskcluster artifacts,
    # GitHub pull request commits); a listing with more pages is rejected as LOOKUP_FAILED.
    max_pages: int = 100

    # TASKCLUSTER_ROOT_URL_OVERRIDE: when set, requests for any Taskcluster root URL go to
    # this base instead. Job log and artifact URLs keep the message's root URL.
    taskcluster_root_url_override: str = ""

    # HG_BASE_URL_OVERRIDE: when set, replaces the scheme and host of every hg.mozilla.org
    # URL (json-pushes), keeping the path and query.
    hg_base_url_override: str = ""

    # GITHUB_API_URL: base URL of the GitHub REST API.
    github_api_url: str = DEFAULT_GITHUB_API_URL

    # GITHUB_TOKEN: optional GitHub token sent as "Authorization: Bearer" to the GitHub API
    # only. It is never logged and is hidden from repr.
    github_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LookupSettings:
        """Read the settings, raising ConfigurationError that names the invalid variable.

        LOOKUP_BASE_URL_OVERRIDE, when set, is the default of TASKCLUSTER_ROOT_URL_OVERRIDE,
        HG_BASE_URL_OVERRIDE and GITHUB_API_URL, so one fixture server can stand in for all
        three services.
        """
        common = _read_base_url("LOOKUP_BASE_URL_OVERRIDE", "", environ)

        backoff_initial = env_float(
            "LOOKUP_BACKOFF_INITIAL", cls.backoff_initial, environ, minimum=0.0
        )
        backoff_max = env_float("LOOKUP_BACKOFF_MAX", cls.backoff_max, environ, minimum=0.0)
        if backoff_max < backoff_initial:
            raise ConfigurationError(
                "LOOKUP_BACKOFF_MAX",
                f"must be at least LOOKUP_BACKOFF_INITIAL ({backoff_initial}), got {backoff_max}",
            )

        timeout = env_float("LOOKUP_TIMEOUT", cls.timeout, environ, minimum=0.001)

        return cls(
            timeout=timeout,
            retries=env_int("LOOKUP_RETRIES", cls.retries, environ, minimum=0),
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            cache_size=env_int("LOOKUP_CACHE_SIZE", cls.cache_size, environ, minimum=0),
            max_pages=env_int("LOOKUP_MAX_PAGES", cls.max_pages, environ, minimum=1),
            taskcluster_root_url_override=_read_base_url(
                "TASKCLUSTER_ROOT_URL_OVERRIDE", common, environ
            ),
            hg_base_url_override=_read_base_url("HG_BASE_URL_OVERRIDE", common, environ),
            github_api_url=_read_base_url(
                "GITHUB_API_URL", common or DEFAULT_GITHUB_API_URL, environ
            ),
            github_token=env_str("GITHUB_TOKEN", "", environ).strip(),
        )

    @classmethod
    def for_base_url(cls, base_url: str, **overrides: object) -> LookupSettings:
        """Return settings that send every lookup to ``base_url`` (a fixture server)."""
        base = base_url.rstrip("/")
        values: dict[str, object] = {
            "taskcluster_root_url_override": base,
            "hg_base_url_override": base,
            "github_api_url": base,
            **overrides,
        }
        return cls(**values)  # type: ignore[arg-type]


def _read_base_url(name: str, default: str, environ: Mapping[str, str] | None) -> str:
    value = env_str(name, default, environ).strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigurationError(name, f"expected an http:// or https:// URL, got {value!r}")
    return value

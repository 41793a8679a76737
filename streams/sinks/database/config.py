"""Settings of the database sink, read from environment variables."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from streams.envconfig import env_float, env_int, env_str
from streams.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Project checkout that contains the `streams` package. The default database lives in its `var/`.
# NOTE: in an installed (non-editable) copy this is site-packages, so set DATA_DIR or DATABASE_URL.
PROJECT_ROOT = Path(__file__).resolve().parents[3]

DEFAULT_DATABASE_FILE = "pulse-ingest.db"

# Driver that each accepted URL scheme is mapped to, so `postgresql://` from a hosting
# provider and `sqlite:///` from a user both reach the async drivers this project ships.
_SCHEME_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


@dataclass(frozen=True)
class DatabaseSettings:
    """Connection and batching settings of the database sink."""

    # DATABASE_URL: SQLAlchemy URL. `postgresql://`, `postgres://` and `sqlite:///` are mapped
    # to the asyncpg and aiosqlite drivers. A PostgreSQL URL may carry `?search_path=NAME` to
    # keep the tables in another schema. Unset: a SQLite file `pulse-ingest.db` in DATA_DIR.
    url: str

    # DATABASE_BATCH_SIZE: maximum number of records the caller groups into one write call.
    batch_size: int = 500

    # DATABASE_MAX_BATCH_WAIT: seconds the caller waits to fill a batch before writing it.
    max_batch_wait: float = 1.0

    # DATABASE_RETRY_INITIAL: seconds before the first retry of a failed write.
    retry_initial: float = 0.5

    # DATABASE_RETRY_MAX: upper bound in seconds of the doubling delay between retries.
    retry_max: float = 30.0

    # DATABASE_POOL_SIZE: connections kept open to PostgreSQL (ignored for SQLite).
    pool_size: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        """Read the settings, raising ConfigurationError that names the invalid variable."""
        raw_url = env_str("DATABASE_URL", "", environ).strip()
        if raw_url:
            url = normalize_database_url(raw_url, variable="DATABASE_URL")
        else:
            url = default_database_url(environ)

        retry_initial = env_float("DATABASE_RETRY_INITIAL", cls.retry_initial, environ, minimum=0.0)
        retry_max = env_float("DATABASE_RETRY_MAX", cls.retry_max, environ, minimum=0.0)
        if retry_max < retry_initial:
            raise ConfigurationError(
                "DATABASE_RETRY_MAX",
                f"must be at least DATABASE_RETRY_INITIAL ({retry_initial}), got {retry_max}",
            )

        return cls(
            url=url,
            batch_size=env_int("DATABASE_BATCH_SIZE", cls.batch_size, environ, minimum=1),
            max_batch_wait=env_float(
                "DATABASE_MAX_BATCH_WAIT", cls.max_batch_wait, environ, minimum=0.0
            ),
            retry_initial=retry_initial,
            retry_max=retry_max,
            pool_size=env_int("DATABASE_POOL_SIZE", cls.pool_size, environ, minimum=1),
        )

    @property
    def masked_url(self) -> str:
        """The URL with its password replaced by `***`, safe for logs and errors."""
        return mask_url(self.url)


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the SQLite URL in DATA_DIR (default `<project>/var`), creating the folder."""
    data_dir = Path(env_str("DATA_DIR", str(PROJECT_ROOT / "var"), environ)).expanduser()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError("DATA_DIR", f"cannot create folder {data_dir}: {exc}") from None

    return f"sqlite+aiosqlite:///{(data_dir / DEFAULT_DATABASE_FILE).resolve()}"


def normalize_database_url(raw_url: str, variable: str = "DATABASE_URL") -> str:
    """Map a PostgreSQL or SQLite URL to its async driver, rejecting other databases."""
    try:
        url = make_url(raw_url)
    except ArgumentError:
        # The raw text may contain a password, so the error shows only that it failed to parse.
        raise ConfigurationError(variable, "not a valid SQLAlchemy URL") from None

    driver = _SCHEME_DRIVERS.get(url.drivername)
    if driver is None:
        supported = "postgresql://, postgres://, postgresql+asyncpg://, sqlite:///"
        raise ConfigurationError(
            variable, f"unsupported database {url.drivername!r}; expected one of {supported}"
        )

    if driver.startswith("sqlite") and not url.database:
        raise ConfigurationError(variable, "a SQLite URL needs a file path, as in sqlite:///path.db")

    return url.set(drivername=driver).render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """Render a database URL with its password hidden."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def mask_secret(text: str, url: str | URL) -> str:
    """Replace the URL's password in free text (a driver message, say) with `***`."""
    try:
        password = (make_url(url) if isinstance(url, str) else url).password
    except ArgumentError:
        return text
    if not password:
        return text
    return text.replace(str(password), "***")

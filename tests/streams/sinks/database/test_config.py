"""Tests of DatabaseSettings.from_env and the URL helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigurationError
from streams.sinks.database.config import DatabaseSettings, mask_url


def test_default_url_in_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    settings = DatabaseSettings.from_env({"DATA_DIR": str(data_dir)})

    assert settings.url == f"sqlite+aiosqlite:///{data_dir / 'pulse-ingest.db'}"
    assert data_dir.is_dir()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u:p@127.0.0.1:5432/db", "postgresql+asyncpg://u:p@127.0.0.1:5432/db"),
        ("postgres://u:p@127.0.0.1/db", "postgresql+asyncpg://u:p@127.0.0.1/db"),
        ("postgresql+asyncpg://u:p@127.0.0.1/db", "postgresql+asyncpg://u:p@127.0.0.1/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_url_mapped_to_driver(raw: str, expected: str) -> None:
    assert DatabaseSettings.from_env({"DATABASE_URL": raw}).url == expected


def test_other_database_rejected() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DatabaseSettings.from_env({"DATABASE_URL": "mysql://u:p@127.0.0.1/db"})

    assert raised.value.variable == "DATABASE_URL"


def test_unparsable_url_hides_text() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DatabaseSettings.from_env({"DATABASE_URL": "not a url with s3cret"})

    assert "s3cret" not in str(raised.value)


def test_sqlite_without_path_rejected() -> None:
    with pytest.raises(ConfigurationError):
        DatabaseSettings.from_env({"DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_BATCH_SIZE", "0"),
        ("DATABASE_BATCH_SIZE", "many"),
        ("DATABASE_MAX_BATCH_WAIT", "-1"),
        ("DATABASE_RETRY_INITIAL", "soon"),
        ("DATABASE_RETRY_MAX", "0.1"),
        ("DATABASE_POOL_SIZE", "0"),
    ],
)
def test_invalid_value_names_variable(tmp_path: Path, variable: str, value: str) -> None:
    environ = {"DATA_DIR": str(tmp_path), variable: value}

    with pytest.raises(ConfigurationError) as raised:
        DatabaseSettings.from_env(environ)

    assert raised.value.variable == variable


def test_numeric_settings_read(tmp_path: Path) -> None:
    environ = {
        "DATA_DIR": str(tmp_path),
        "DATABASE_BATCH_SIZE": "50",
        "DATABASE_MAX_BATCH_WAIT": "0.25",
        "DATABASE_RETRY_INITIAL": "2",
        "DATABASE_RETRY_MAX": "8",
    }

    settings = DatabaseSettings.from_env(environ)

    assert settings.batch_size == 50
    assert settings.max_batch_wait == 0.25
    assert settings.retry_initial == 2.0
    assert settings.retry_max == 8.0


def test_masked_url_hides_password() -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": "postgresql://user:s3cret@127.0.0.1/db"})

    assert settings.masked_url == "postgresql+asyncpg://user:***@127.0.0.1/db"
    assert "s3cret" not in repr(mask_url(settings.url))

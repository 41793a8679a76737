"""Fixtures of the end-to-end tests: an empty PostgreSQL schema and a runner of the main job."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from streams.sinks.database.engine import create_database_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Seconds the main job may wait for its outcomes; generous for a loaded 2-core machine.
RUN_TIMEOUT = 300


@dataclass(frozen=True)
class JobRun:
    """Exit code and output of one `python -m streams.main_job` process."""

    exit_code: int
    output: str


async def _execute(url: str, statement: str) -> None:
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def e2e_database_url(test_database_url: str) -> Iterator[str]:
    """TEST_DATABASE_URL pointed at a fresh schema, dropped after the module's tests."""
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(test_database_url, f'CREATE SCHEMA "{schema}"'))
    yield f"{test_database_url}?search_path={schema}"
    asyncio.run(_execute(test_database_url, f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="module")
def run_main_job(kafka_bootstrap_servers: str, pulse_url: str) -> Callable[[str], JobRun]:
    """Factory that runs the main job as a user would, against the given database URL."""

    def run(database_url: str) -> JobRun:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "PULSE_URL": pulse_url,
            "DATABASE_URL": database_url,
        }
        completed = subprocess.run(
            [sys.executable, "-m", "streams.main_job", "--no-stack", "--timeout", str(RUN_TIMEOUT)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        return JobRun(completed.returncode, completed.stdout)

    return run

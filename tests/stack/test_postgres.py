"""Tests for the PostgreSQL service: rendered settings and a SQL round trip with asyncpg."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from stack.postgres import render_config


def test_config_binds_loopback(make_config, tmp_path):
    lines = render_config(make_config(), tmp_path / "socket").splitlines()

    assert "listen_addresses = '127.0.0.1'" in lines
    assert "port = 19432" in lines


@pytest.mark.integration
async def test_sql_round_trip(test_database_url):
    table_name = f"stack_test_{uuid.uuid4().hex[:12]}"
    table = sa.Table(
        table_name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.String(40), nullable=False),
    )
    revision = uuid.uuid4().hex

    engine = create_async_engine(test_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.create)
            await connection.execute(sa.insert(table).values(id=1, revision=revision))
            rows = (await connection.execute(sa.select(table.c.id, table.c.revision))).all()
            await connection.run_sync(table.drop)
    finally:
        await engine.dispose()

    assert rows == [(1, revision)]

"""The join agent's two tables, changelog-backed and partitioned like the by-revision topics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust

from streams.config import WorkerSettings

logger = logging.getLogger(__name__)

PUSH_TABLE = "pushes"
PARKED_TABLE = "parked-jobs"


@dataclass(frozen=True)
class JoinTables:
    """Tables of the join agent; plain dicts can stand in for them in unit tests.

    ``pushes`` maps `<repository>/<revision>` to the push record. ``parked`` maps the same
    key to a parked-job entry (see ``streams.tables.parked``). No table stores job states:
    the database applies the job-state rule to the stored rows.
    """

    pushes: Any
    parked: Any


def rocksdb_options(settings: WorkerSettings) -> dict[str, Any]:
    """Return RocksDB options sized for many small partition databases.

    Faust opens one RocksDB database per table partition, and its defaults (a 2 GiB block
    cache and three 64 MiB write buffers each) would reserve far more memory than the
    tables need.
    """
    return {
        "block_cache_size": settings.rocksdb_block_cache_bytes,
        "block_cache_compressed_size": settings.rocksdb_block_cache_bytes,
        "write_buffer_size": settings.rocksdb_write_buffer_bytes,
        "max_write_buffer_number": 2,
    }


def create_tables(app: faust.App, settings: WorkerSettings) -> JoinTables:
    """Declare the tables on ``app``, each with TOPIC_PARTITIONS changelog partitions.

    Without a key or value type, Faust stores keys and values as JSON in the tables and
    their changelogs.
    """
    options = rocksdb_options(settings) if settings.store.startswith("rocksdb") else None

    def table(name: str, help_text: str) -> Any:
        return app.Table(
            name,
            default=None,
            partitions=settings.topic_partitions,
            options=options,
            help=help_text,
        )

    return JoinTables(
        pushes=table(PUSH_TABLE, "Push records by <repository>/<revision>."),
        parked=table(PARKED_TABLE, "Jobs waiting for their push, by <repository>/<revision>."),
    )

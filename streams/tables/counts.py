"""Key counts of the join tables, for the metrics page and the log."""

from __future__ import annotations

import logging

from streams import metrics
from streams.tables.definitions import PARKED_TABLE, PUSH_TABLE, JoinTables

logger = logging.getLogger(__name__)


def record_table_sizes(tables: JoinTables) -> dict[str, int]:
    """Count the keys of each table's active partitions, publish them as gauges and log them.

    Counting reads every key of the local RocksDB partitions, so it runs on a timer and not
    per event.
    """
    sizes = {
        PUSH_TABLE: len(tables.pushes),
        PARKED_TABLE: len(tables.parked),
    }
    for name, count in sizes.items():
        metrics.TABLE_KEYS.labels(table=name).set(count)

    logger.debug(
        "Table keys: %d pushes, %d parked push keys",
        sizes[PUSH_TABLE],
        sizes[PARKED_TABLE],
    )
    return sizes

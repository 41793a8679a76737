"""Worker restart: the push and parked-job tables keep their key counts, the result is unchanged."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.streams.agents.harness import WAIT_SECONDS, fetch_jobs
from tests.streams.agents.test_worker_join import topics_of
from tests.streams.agents.test_worker_scale import (
    JOBS_PER_PUSH,
    PUSHES,
    expected_rows,
    make_schema,  # noqa: F401 (fixture)
    build_worker,
    wait_for_rows,
    workload,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = ("pushes", "parked-jobs")


async def wait_table_keys(worker, expected: dict[str, float]) -> dict[str, float]:
    """Wait until the worker's table key gauges equal ``expected``; return the last values."""
    deadline = time.monotonic() + WAIT_SECONDS
    counts: dict[str, float] = {}
    while time.monotonic() < deadline:
        counts = {
            table: await asyncio.to_thread(worker.metric, "pulse_ingest_table_keys", table=table)
            for table in TABLES
        }
        if counts == expected:
            break
        await asyncio.sleep(0.5)
    return counts


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_restart_keeps_table_counts(kafka, make_worker, make_schema, test_id, tmp_path, crash):  # noqa: F811
    url = await make_schema()
    worker = build_worker(make_worker, url, test_id, "restart", tmp_path, "a", PARKED_SWEEP_INTERVAL="0.5")
    names = topics_of(worker)
    early, jobs, late = workload(test_id)
    # Jobs of the late pushes stay parked, one parked key per late push.
    before = {"pushes": PUSHES // 2, "parked-jobs": PUSHES - PUSHES // 2}
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, early)
    await kafka.send_many(names.raw_jobs, jobs)
    counts_before = await wait_table_keys(worker, before)
    if crash:
        worker.kill()
    else:
        assert worker.stop() == 0

    worker.start()
    await worker.wait_ready()
    counts_after = await wait_table_keys(worker, before)

    assert counts_before == before
    assert counts_after == counts_before

    await kafka.send_many(names.raw_pushes, late)
    expected = expected_rows(jobs)
    rows = await wait_for_rows(url, expected)

    assert rows == expected
    assert len(await fetch_jobs(url)) == PUSHES * JOBS_PER_PUSH
    assert await wait_table_keys(worker, {**before, "pushes": PUSHES, "parked-jobs": 0}) == {
        **before,
        "pushes": PUSHES,
        "parked-jobs": 0,
    }
    assert worker.stop() == 0

"""Crashes and service restarts in the middle of a run, each followed by the verifier.

Every test publishes the same seeded workload of 3,000 job events over 100 pushes at a fixed
rate and fires one fault while messages flow. The verifier must then account for every message
and find no job or push stored twice and no job state moving backwards. The service restarts
run `python -m stack restart` on the run's own stack; see the `stack_environ` fixture.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.faults.pipeline import FaultPipeline
from streams.faults.runner import RunResult, run_faults
from streams.faults.schedule import BRIDGE_KILL, SERVICE_RESTART, WORKER_KILL, PlannedFault
from streams.faults.workload import Workload, build_workload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 3000
PUSHES = 100
SEED = 20261204

# Messages per second; at this rate publishing takes about 20 s, so a fault finds messages in flight.
RATE = 150.0

# Upper bound of one run in seconds, waiting for the outcomes included.
MAX_SECONDS = 600.0

# Share of the messages published when the fault fires.
TRIGGER = 0.4

MakePipeline = Callable[..., FaultPipeline]


@pytest.fixture(scope="module")
def workload() -> Workload:
    return build_workload(EVENTS, PUSHES, SEED)


def _assert_clean(result: RunResult, workload: Workload) -> None:
    report = result.report
    summary = report.summary() if report else None

    assert [fault.error for fault in result.faults] == [None], result.faults
    assert result.unplanned_exits == [], result.unplanned_exits
    assert result.publish is not None
    assert result.publish.confirmed == len(workload.messages)
    assert report is not None
    assert report.published == len(workload.messages), summary
    assert report.lost == [], summary
    # Every message of the workload is valid, so any dead letter is a fault the pipeline mishandled.
    assert report.dead_letter_reasons == {}, summary
    assert report.duplicate_jobs == [], summary
    assert report.duplicate_pushes == [], summary
    assert report.state_mismatches == [], summary
    assert report.regressions == [], summary


def test_bridge_sigkill(make_fault_pipeline: MakePipeline, workload: Workload) -> None:
    pipeline = make_fault_pipeline()
    result = run_faults(pipeline, workload, [PlannedFault(BRIDGE_KILL, "", TRIGGER)], RATE, MAX_SECONDS)

    _assert_clean(result, workload)


def test_worker_sigkill_of_two(make_fault_pipeline: MakePipeline, workload: Workload) -> None:
    pipeline = make_fault_pipeline(workers=2)
    result = run_faults(pipeline, workload, [PlannedFault(WORKER_KILL, "1", TRIGGER)], RATE, MAX_SECONDS)

    _assert_clean(result, workload)


@pytest.mark.parametrize("service", ["kafka", "rabbitmq", "postgres"])
def test_service_restart(
    make_fault_pipeline: MakePipeline,
    workload: Workload,
    stack_environ: dict[str, str],
    service: str,
) -> None:
    pipeline = make_fault_pipeline()
    fault = PlannedFault(SERVICE_RESTART, service, TRIGGER)
    result = run_faults(pipeline, workload, [fault], RATE, MAX_SECONDS, stack_environ)

    _assert_clean(result, workload)

"""Tests of the forward-only job state rule, folding event sequences through the transform."""

from __future__ import annotations

from typing import Any

import pytest

from streams.transforms.job import transform_pulse_job
from streams.transforms.state import JOB_STATES, should_apply, state_rank


def event(state: str, result: str = "unknown", retried: bool = False) -> dict[str, Any]:
    """Describe one pulse event of the same job: its state, result and retry flag."""
    return {"state": state, "result": result, "isRetried": retried}


@pytest.mark.parametrize(
    "events, expected_state, expected_result",
    [
        pytest.param(
            [event("pending"), event("running"), event("completed", "fail")],
            "completed", "testfailed", id="pending-running-failed",
        ),
        pytest.param(
            [event("completed", "success"), event("pending")],
            "completed", "success", id="completed-then-pending",
        ),
        pytest.param(
            [event("completed", "success"), event("running")],
            "completed", "success", id="completed-then-running",
        ),
        pytest.param(
            [event("running"), event("pending")],
            "running", "unknown", id="running-then-pending",
        ),
        pytest.param(
            [event("running"), event("completed", "superseded")],
            "completed", "superseded", id="running-superseded",
        ),
        pytest.param(
            [event("pending"), event("completed", "fail", retried=True), event("completed", "fail")],
            "completed", "retry", id="retried-keeps-retry",
        ),
        pytest.param(
            [event("unscheduled"), event("pending"), event("running"), event("completed", "success")],
            "completed", "success", id="unscheduled-to-success",
        ),
        pytest.param(
            [event("pending"), event("unscheduled")],
            "pending", "unknown", id="pending-then-unscheduled",
        ),
        pytest.param(
            [event("running"), event("unscheduled")],
            "running", "unknown", id="running-then-unscheduled",
        ),
        pytest.param(
            [event("completed", "success"), event("completed", "fail")],
            "completed", "success", id="second-completed-ignored",
        ),
    ],
)
def test_event_fold(events, expected_state, expected_result, make_pulse_job, registry):
    stored: dict[str, Any] | None = None

    for overrides in events:
        job = transform_pulse_job(make_pulse_job(**overrides), registry)["job"]
        current = stored["state"] if stored is not None else None
        if should_apply(current, job["state"]):
            stored = job

    assert stored is not None
    assert stored["state"] == expected_state
    assert stored["result"] == expected_result


@pytest.mark.parametrize("current", [None, *JOB_STATES])
@pytest.mark.parametrize("incoming", JOB_STATES)
def test_rule_table(current, incoming):
    expected = current is None or (
        current != "completed" and JOB_STATES.index(incoming) >= JOB_STATES.index(current)
    )

    assert should_apply(current, incoming) is expected


def test_rank_order():
    assert [state_rank(state) for state in JOB_STATES] == [0, 1, 2, 3]


def test_rank_unknown_state():
    with pytest.raises(ValueError):
        state_rank("failed")

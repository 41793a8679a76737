"""Unit tests of the fault workload, the fault plan and the stack guard; no services needed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest

from streams.faults.schedule import BRIDGE_KILL, FIRST_TRIGGER, LAST_TRIGGER, SERVICE_RESTART, WORKER_KILL, plan_faults
from streams.faults.services import StackMismatchError, check_same_stack
from streams.faults.workload import JOB_EXCHANGE, PUSH_EXCHANGE, Workload, build_workload

MakeWorkload = Callable[..., Workload]


@pytest.fixture
def make_workload() -> MakeWorkload:
    def make(events: int = 600, pushes: int = 20, seed: int = 7, **shares: float) -> Workload:
        return build_workload(events, pushes, seed, **shares)

    return make


def _bodies(workload: Workload, exchange: str) -> list[dict]:
    return [json.loads(message.body) for message in workload.messages if message.exchange == exchange]


def test_workload_counts(make_workload: MakeWorkload) -> None:
    workload = make_workload()

    assert len(_bodies(workload, JOB_EXCHANGE)) == 600
    assert len(_bodies(workload, PUSH_EXCHANGE)) == 20
    assert workload.job_events == 600
    assert workload.pushes == 20


def test_workload_same_seed_same_bytes(make_workload: MakeWorkload) -> None:
    first = [message.body for message in make_workload().messages]
    second = [message.body for message in make_workload().messages]

    assert first == second


def test_workload_other_seed_differs(make_workload: MakeWorkload) -> None:
    first = [message.body for message in make_workload(seed=1).messages]
    second = [message.body for message in make_workload(seed=2).messages]

    assert first != second


def test_workload_late_push_follows_jobs(make_workload: MakeWorkload) -> None:
    workload = make_workload(late_share=1.0)
    seen_jobs: set[str] = set()
    late = 0
    for message in workload.messages:
        body = json.loads(message.body)
        if message.exchange == JOB_EXCHANGE:
            seen_jobs.add(body["origin"]["revision"])
        elif body["payload"]["heads"][0] in seen_jobs:
            late += 1

    assert workload.late_pushes == 20
    assert late == 20


def test_workload_repeats_bodies(make_workload: MakeWorkload) -> None:
    workload = make_workload(repeat_share=0.2)
    counts = Counter(message.body for message in workload.messages if message.exchange == JOB_EXCHANGE)

    assert workload.repeated_events > 0
    assert sum(count - 1 for count in counts.values()) == workload.repeated_events


def test_workload_reordered_states(make_workload: MakeWorkload) -> None:
    workload = make_workload(reorder_share=1.0, repeat_share=0.0)
    first_state: dict[str, str] = {}
    for body in _bodies(workload, JOB_EXCHANGE):
        first_state.setdefault(body["taskId"], body["state"])

    assert workload.reordered_jobs > 0
    assert "completed" in {first_state[task] for task in first_state}
    assert "pending" not in first_state.values()


def test_workload_rejects_too_few_events(make_workload: MakeWorkload) -> None:
    with pytest.raises(ValueError):
        make_workload(events=5, pushes=10)


def test_plan_counts_each_kind() -> None:
    faults = plan_faults(3, bridge_kills=3, worker_kills=3, workers=2, services=("kafka", "rabbitmq", "postgres"))
    kinds = Counter(fault.kind for fault in faults)

    assert kinds == {BRIDGE_KILL: 3, WORKER_KILL: 3, SERVICE_RESTART: 3}


def test_plan_triggers_sorted_in_range() -> None:
    triggers = [fault.trigger for fault in plan_faults(3, 3, 3, 2, ("kafka",))]

    assert triggers == sorted(triggers)
    assert min(triggers) >= FIRST_TRIGGER
    assert max(triggers) <= LAST_TRIGGER


def test_plan_worker_targets_exist() -> None:
    targets = {fault.target for fault in plan_faults(5, 0, 20, 2, ())}

    assert targets <= {"0", "1"}


def test_stack_guard_rejects_other_stack() -> None:
    environ = {
        "PULSE_STACK_KAFKA_PORT": "39092",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "PULSE_URL": "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse",
        "DATABASE_URL": "postgresql+asyncpg://pulse_ingest:pulse_ingest@127.0.0.1:19432/pulse_ingest",
    }

    with pytest.raises(StackMismatchError):
        check_same_stack(environ)

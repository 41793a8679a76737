"""Seeded stream of hg pushes and pulse job events, built from Treeherder's sample jobs."""

from __future__ import annotations

import copy
import functools
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from streams.sinks.database.config import PROJECT_ROOT

# NOTE: the sample jobs live in the test data of the checkout, so the workload needs a checkout
# (an editable install), not only the installed package.
JOB_SAMPLES = PROJECT_ROOT / "tests" / "data" / "treeherder" / "job_data.json"

JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"
PUSH_EXCHANGE = "exchange/hgpushes/v1"
REPOSITORY = "autoland"
REPOSITORY_PATH = "integration/autoland"
REPOSITORY_URL = "https://hg.mozilla.org/integration/autoland"

# Epoch seconds of the first push; each later push is one minute newer.
FIRST_PUSH_TIME = 1_740_000_000

# States of a job's events for each lifecycle length, in publishing order.
LIFECYCLES: dict[int, tuple[str, ...]] = {
    1: ("completed",),
    2: ("pending", "completed"),
    3: ("pending", "running", "completed"),
}

# Lifecycle lengths to draw from; most jobs report all three states.
LIFECYCLE_CHOICES = (1, 2, 3, 3, 3)


@dataclass(frozen=True)
class WorkloadMessage:
    """One message to publish: its exchange, routing key, body bytes and kind (`push` or `job`)."""

    exchange: str
    routing_key: str
    body: bytes = field(repr=False)
    kind: str


@dataclass
class Workload:
    """Messages in publishing order, with counts of what they contain."""

    messages: list[WorkloadMessage] = field(default_factory=list)
    pushes: int = 0
    jobs: int = 0
    job_events: int = 0
    late_pushes: int = 0
    repeated_events: int = 0
    reordered_jobs: int = 0

    def describe(self) -> str:
        """Return a one-line description of the workload."""
        return (
            f"{self.job_events} job events of {self.jobs} jobs over {self.pushes} pushes; "
            f"{self.late_pushes} pushes published after their jobs, {self.repeated_events} events "
            f"repeated, {self.reordered_jobs} jobs with events out of order"
        )


@dataclass(frozen=True)
class _Event:
    """A job event before ordering: its body, the slot it is published in, and a tie-breaker."""

    body: bytes
    slot: int
    order: float


@functools.cache
def _samples() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(JOB_SAMPLES.read_text(encoding="utf-8")))


def build_workload(
    events: int,
    pushes: int,
    seed: int,
    late_share: float = 0.1,
    repeat_share: float = 0.05,
    reorder_share: float = 0.05,
) -> Workload:
    """Build ``events`` job events spread evenly over ``pushes`` autoland pushes.

    Within a push, the pending events come first, then running, then completed, each group
    shuffled. ``reorder_share`` of the jobs with two or more events publish them in reverse.
    ``repeat_share`` of the events are copies of an earlier event of the same push.
    ``late_share`` of the pushes are published after the events of the next push.
    """
    if pushes < 1 or events < pushes:
        raise ValueError(f"need at least one push and one event per push, got {events} events over {pushes} pushes")

    rng = random.Random(seed)
    workload = Workload(pushes=pushes, job_events=events)
    deferred: list[WorkloadMessage] = []

    for number in range(pushes):
        quota = events // pushes + (1 if number < events % pushes else 0)
        revision = f"{rng.getrandbits(160):040x}"
        push = WorkloadMessage(PUSH_EXCHANGE, REPOSITORY_PATH, _push_body(revision, number + 1), "push")

        late = rng.random() < late_share
        if not late:
            workload.messages.append(push)

        workload.messages.extend(_push_events(rng, workload, revision, quota, repeat_share, reorder_share))

        # A late push follows the events of the next push, so its own jobs wait for it.
        workload.messages.extend(deferred)
        deferred = [push] if late else []
        workload.late_pushes += int(late)

    workload.messages.extend(deferred)
    return workload


def _push_events(
    rng: random.Random,
    workload: Workload,
    revision: str,
    quota: int,
    repeat_share: float,
    reorder_share: float,
) -> list[WorkloadMessage]:
    """Return the ordered job events of one push, repeats included, ``quota`` in all."""
    repeats = sum(1 for _ in range(quota) if rng.random() < repeat_share) if quota > 1 else 0
    originals: list[_Event] = []

    while len(originals) < quota - repeats:
        length = min(rng.choice(LIFECYCLE_CHOICES), quota - repeats - len(originals))
        states = LIFECYCLES[length]
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        template = _samples()[workload.jobs % len(_samples())]
        workload.jobs += 1

        slots = list(range(length))
        if length > 1 and rng.random() < reorder_share:
            slots.reverse()
            workload.reordered_jobs += 1

        for state, slot in zip(states, slots):
            body = _job_body(template, task_id, revision, state)
            originals.append(_Event(body, _slot_of(slot, length), rng.random()))

    ordered = sorted(originals, key=lambda event: (event.slot, event.order))
    for _ in range(repeats):
        # A repeat goes somewhere after its original, as a redelivery would.
        position = rng.randrange(len(ordered))
        ordered.insert(rng.randint(position + 1, len(ordered)), ordered[position])
    workload.repeated_events += repeats

    return [WorkloadMessage(JOB_EXCHANGE, f"primary.{revision[:12]}.{REPOSITORY}", event.body, "job") for event in ordered]


def _slot_of(slot: int, length: int) -> int:
    """Map a lifecycle position to one of three publishing slots (pending, running, completed)."""
    if length == 3:
        return slot
    if length == 2:
        return 0 if slot == 0 else 2
    return 2


def _job_body(template: dict[str, Any], task_id: str, revision: str, state: str) -> bytes:
    """Return a pulse job copied from ``template`` for run 0 of ``task_id`` in ``state``."""
    job = copy.deepcopy(template)
    job["taskId"] = f"{task_id}/0"
    job["origin"] = {"project": REPOSITORY, "revision": revision}
    job["state"] = state

    if state != "completed":
        job["result"] = "unknown"
        job.pop("timeCompleted", None)
    if state == "pending":
        job.pop("timeStarted", None)
    return json.dumps(job, separators=(",", ":")).encode("utf-8")


def _push_body(revision: str, push_id: int) -> bytes:
    """Return an `exchange/hgpushes/v1` body of autoland push ``push_id`` whose head is ``revision``."""
    range_query = f"version=2&startID={push_id - 1}&endID={push_id}"
    body = {
        "payload": {
            "pushlog_pushes": [
                {
                    "time": FIRST_PUSH_TIME + 60 * push_id,
                    "push_full_json_url": f"{REPOSITORY_URL}/json-pushes?{range_query}&full=1",
                    "pushid": push_id,
                    "push_json_url": f"{REPOSITORY_URL}/json-pushes?{range_query}",
                    "user": "fault-run@example.com",
                }
            ],
            "heads": [revision],
            "repo_url": REPOSITORY_URL,
            "_meta": {
                "sent": "2025-02-28T18:27:42.000000",
                "routing_key": REPOSITORY_PATH,
                "serializer": "json",
                "exchange": PUSH_EXCHANGE,
            },
        }
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")

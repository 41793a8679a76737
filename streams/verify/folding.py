"""Expected final state of each job, folded from its events with the forward-only state rule."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from streams.transforms.state import should_apply, state_rank
from streams.verify.events import JobEvent


@dataclass(frozen=True)
class ExpectedJob:
    """State and result that a job must have after all its events."""

    state: str
    result: str


def fold_jobs(events: Sequence[JobEvent], excluded_ids: Collection[str]) -> dict[str, ExpectedJob]:
    """Apply ``events`` in order with ``should_apply``, skipping events whose message was dead-lettered."""
    expected: dict[str, ExpectedJob] = {}
    for event in events:
        if event.message_id in excluded_ids:
            continue

        current = expected.get(event.guid)
        if should_apply(current.state if current else None, event.state):
            expected[event.guid] = ExpectedJob(event.state, event.result)
    return expected


def regressions(states: Sequence[str]) -> list[str]:
    """Return each `a -> b` step of ``states`` where the rank goes down or a completed job changes."""
    found = []
    for before, after in zip(states, states[1:]):
        if state_rank(after) < state_rank(before) or (before == "completed" and after != "completed"):
            found.append(f"{before} -> {after}")
    return found

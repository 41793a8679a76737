"""Verification report: the checks over published ids, topic records and stored rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.config import TopicNames
from streams.main_job.observe import KafkaRecord
from streams.transforms.state import state_rank
from streams.verify import events
from streams.verify.database import StoredRows
from streams.verify.folding import fold_jobs, regressions

# Most ids or guids listed per finding in the JSON summary; the counts are always complete.
MAX_LISTED = 50


@dataclass
class VerifyReport:
    """Outcome of one verification; ``ok`` is false on any loss, duplicate, mismatch or regression."""

    published: int = 0
    accounted: int = 0
    dead_lettered: int = 0
    stored: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    dead_letter_repeats: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_jobs: list[str] = field(default_factory=list)
    duplicate_pushes: list[str] = field(default_factory=list)
    state_mismatches: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was lost, stored twice, stored in the wrong state or moved backwards."""
        return not (self.lost or self.duplicate_jobs or self.duplicate_pushes or self.state_mismatches or self.regressions)

    def summary(self) -> dict[str, Any]:
        """Return the JSON summary: counts of every finding and up to MAX_LISTED examples of each."""
        data = asdict(self)
        for name in ("lost", "duplicate_jobs", "duplicate_pushes", "state_mismatches", "regressions"):
            items = data.pop(name)
            data[name] = len(items)
            data[f"{name}_examples"] = items[:MAX_LISTED]
        data["ok"] = self.ok
        return data


def build_report(
    published_ids: Sequence[str],
    topics: TopicNames,
    records: Mapping[str, Sequence[KafkaRecord]],
    stored: StoredRows,
) -> VerifyReport:
    """Check every published id against the dead-letter topic and the stored rows.

    An id is accounted for when it was dead-lettered, or when its push is stored, or when its
    job is stored in the event's state or a later one (a dropped repeat counts as accounted).
    """
    reasons = events.dead_letter_reasons(records[topics.dead_letter])
    push_keys = events.push_keys_by_id(records[topics.pushes])
    job_events = events.all_job_events(records[topics.raw_jobs], records[topics.jobs])
    event_by_id = {event.message_id: event for event in job_events if event.message_id}

    report = VerifyReport(published=len(published_ids), dead_letter_repeats=events.dead_letter_repeats(records[topics.dead_letter]))
    for message_id in published_ids:
        if message_id in reasons:
            report.dead_lettered += 1
        elif _is_stored(message_id, push_keys, event_by_id, stored):
            report.stored += 1
        else:
            report.lost.append(message_id)

    published = set(published_ids)
    report.accounted = report.dead_lettered + report.stored
    report.dead_letter_reasons = dict(Counter(reason for message_id, reason in reasons.items() if message_id in published))

    report.duplicate_jobs = sorted(guid for guid, row in stored.jobs.items() if row.rows > 1)
    report.duplicate_pushes = sorted(key for key, rows in stored.pushes.items() if rows > 1)

    for guid, expected in sorted(fold_jobs(job_events, reasons).items()):
        row = stored.jobs.get(guid)
        if row is not None and (row.state, row.result) != (expected.state, expected.result):
            report.state_mismatches.append(
                f"{guid}: stored {row.state}/{row.result}, events imply {expected.state}/{expected.result}"
            )

    for guid, states in sorted(events.accepted_states(records[topics.accepted_jobs]).items()):
        report.regressions.extend(f"{guid} accepted {step}" for step in regressions(states))
    return report


def _is_stored(
    message_id: str,
    push_keys: Mapping[str, str],
    event_by_id: Mapping[str, events.JobEvent],
    stored: StoredRows,
) -> bool:
    key = push_keys.get(message_id)
    if key is not None:
        return key in stored.pushes

    event = event_by_id.get(message_id)
    if event is None:
        return False

    row = stored.jobs.get(event.guid)
    return row is not None and state_rank(row.state) >= state_rank(event.state)

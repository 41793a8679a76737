"""Balance of a run: every published message must reach an outcome at every stage.

Each stage conserves records, so with the run's own topics the counts must balance:

    published messages   = run message ids found on the raw topics
    raw push records     = push-by-revision records + dead letters from the raw push topic
    raw job records      = job-by-revision records + dead letters from the raw job topic
    push-by-revision     = accepted push records + dead letters from the push topic
    job-by-revision      = accepted job records + dropped + still parked + dead letters from the job topic

Dropped and parked job events leave no record, so their counts come from the worker's metrics.
A positive gap is work in flight; a run is settled when every gap is zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.config import TopicNames
from streams.main_job.broker import line_of
from streams.main_job.observe import MESSAGE_ID_HEADER, KafkaRecord, WorkerCounts
from streams.samples import (
    ACCEPTED_JOB,
    ACCEPTED_PUSH,
    DEAD_LETTER,
    DROPPED_BY_STATE,
    PARKED,
    ExpectedOutcome,
)


@dataclass(frozen=True)
class StageBalance:
    """Inputs and outcomes of one stage; ``gap`` is inputs minus outcomes."""

    stage: str
    inputs: int
    outcomes: int

    @property
    def gap(self) -> int:
        """Records still in flight (positive) or counted twice (negative)."""
        return self.inputs - self.outcomes


@dataclass(frozen=True)
class Accounting:
    """State of a run's accounting at one moment."""

    published: int
    missing_lines: tuple[int, ...]
    stages: tuple[StageBalance, ...]
    accepted_pushes: int
    accepted_jobs: int
    dropped: int
    parked: int
    dead_letters: int
    foreign_messages: int

    @property
    def settled(self) -> bool:
        """True when every published message reached Kafka and every stage balances."""
        return not self.missing_lines and all(stage.gap == 0 for stage in self.stages)

    @property
    def unaccounted(self) -> int:
        """Published messages without a known outcome yet (an estimate while records are in flight)."""
        in_flight = sum(max(stage.gap, 0) for stage in self.stages)
        return len(self.missing_lines) + in_flight

    def progress_line(self) -> str:
        """Return one line for the progress display."""
        relayed = self.published - len(self.missing_lines)
        gaps = ", ".join(f"{stage.stage} {stage.gap}" for stage in self.stages if stage.gap)
        return (
            f"relayed {relayed}/{self.published}, accepted {self.accepted_pushes} push and "
            f"{self.accepted_jobs} job events, dropped {self.dropped}, parked {self.parked}, "
            f"dead-lettered {self.dead_letters}" + (f"; in flight: {gaps}" if gaps else "")
        )


def account(
    run_id: str,
    published: int,
    topics: TopicNames,
    records: dict[str, list[KafkaRecord]],
    worker: WorkerCounts,
) -> Accounting:
    """Compute the balance of every stage from the records read so far."""
    raw_pushes = records[topics.raw_pushes]
    raw_jobs = records[topics.raw_jobs]
    dead_by_source = Counter(_source_topic(record) for record in records[topics.dead_letter])

    seen_lines = {
        line
        for record in (*raw_pushes, *raw_jobs)
        if (line := line_of(run_id, record.headers.get(MESSAGE_ID_HEADER))) is not None
    }
    missing = tuple(line for line in range(1, published + 1) if line not in seen_lines)
    foreign = sum(
        1 for record in (*raw_pushes, *raw_jobs) if line_of(run_id, record.headers.get(MESSAGE_ID_HEADER)) is None
    )

    accepted_pushes = len(records[topics.accepted_pushes])
    accepted_jobs = len(records[topics.accepted_jobs])
    pushes = len(records[topics.pushes])
    jobs = len(records[topics.jobs])

    stages = (
        StageBalance("push ingest", len(raw_pushes), pushes + dead_by_source[topics.raw_pushes]),
        StageBalance("job ingest", len(raw_jobs), jobs + dead_by_source[topics.raw_jobs]),
        StageBalance("push join", pushes, accepted_pushes + dead_by_source[topics.pushes]),
        StageBalance(
            "job join",
            jobs,
            accepted_jobs + worker.dropped + worker.parked + dead_by_source[topics.jobs],
        ),
    )

    return Accounting(
        published=published,
        missing_lines=missing,
        stages=stages,
        accepted_pushes=accepted_pushes,
        accepted_jobs=accepted_jobs,
        dropped=worker.dropped,
        parked=worker.parked,
        dead_letters=len(records[topics.dead_letter]),
        foreign_messages=foreign,
    )


@dataclass
class ExpectationCheck:
    """Differences between a settled run and the expected outcome of each sample line."""

    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """True when nothing differs."""
        return not self.differences


def compare_with_expected(
    run_id: str,
    accounting: Accounting,
    dead_letters: Sequence[KafkaRecord],
    expected: Sequence[ExpectedOutcome],
) -> ExpectationCheck:
    """Compare outcome counts, and the reason of each dead-lettered line, with ``expected``."""
    check = ExpectationCheck()
    expected_counts = Counter(outcome.outcome for outcome in expected)

    observed = {
        ACCEPTED_PUSH: accounting.accepted_pushes,
        PARKED: accounting.parked,
    }
    for outcome, count in observed.items():
        if count != expected_counts[outcome]:
            check.differences.append(f"{outcome}: expected {expected_counts[outcome]}, observed {count}")

    # Delivery is at least once, so a redelivered event can overtake a later one of the same
    # job. The state rule then drops the late event instead of accepting it: the split between
    # accepted and dropped events depends on delivery order, but their sum does not, and the
    # stored final states are checked against the database separately.
    expected_job_events = expected_counts[ACCEPTED_JOB] + expected_counts[DROPPED_BY_STATE]
    observed_job_events = accounting.accepted_jobs + accounting.dropped
    if observed_job_events != expected_job_events:
        check.differences.append(
            f"job events accepted or dropped by the state rule: expected {expected_job_events}, "
            f"observed {observed_job_events}"
        )

    reasons: dict[int, str] = {}
    for record in dead_letters:
        line = line_of(run_id, (record.value or {}).get("headers", {}).get(MESSAGE_ID_HEADER))
        if line is not None:
            reasons[line] = str(record.value.get("reason"))

    for outcome in expected:
        if outcome.outcome == DEAD_LETTER:
            got = reasons.pop(outcome.line, None)
            if got != outcome.reason:
                check.differences.append(f"line {outcome.line}: expected dead letter {outcome.reason}, observed {got}")

    for line, reason in sorted(reasons.items()):
        check.differences.append(f"line {line}: unexpected dead letter {reason}")
    return check


def _source_topic(record: KafkaRecord) -> str | None:
    value = record.value if isinstance(record.value, dict) else {}
    source = value.get("source") or {}
    return source.get("topic")

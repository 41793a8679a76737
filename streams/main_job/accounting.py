"""Balance of a run: every published message must reach an outcome at every stage.

Each stage conserves records, so with the run's own topics the counts must balance:

    published messages   = run message ids found on the raw topics
    raw push records     = push-by-revision records of the push ingest + dead letters from the raw push topic
    un-enriched pushes   = enrichment copies
    enrichment copies    = push-by-revision records of the enrich agent + dead letters from the enrichment topic
    raw job records      = job-by-revision records + dead letters from the raw job topic
    push-by-revision     = accepted push records + dead letters from the push topic
    job-by-revision      = accepted job records + dropped + behind the database + still parked
                           + dead letters from the job topic

The worker runs with PUSH_ENRICHMENT on, so the push ingest copies every un-enriched push
record to the enrichment topic. An enriched push is a second push event: a push line that is
enriched yields two accepted push records. streams.main_job.enrichment finds the
push-by-revision records the enrich agent sent.

Dropped, parked and behind-the-database job events leave no record, so their counts come from
the worker's metrics. An event is behind the database when its stored row is further along,
for example when a second run publishes the same messages into the same database.
A positive gap is work in flight; a run is settled when every gap is zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.config import TopicNames
from streams.main_job.broker import line_of
from streams.main_job.enrichment import enriched_by_lookup, is_enriched
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
    # Push-by-revision records that the enrich agent sent after a successful commit lookup.
    enriched_pushes: int
    dropped: int
    parked: int
    dead_letters: int
    foreign_messages: int
    # Job events not sent because their stored row is further along.
    behind: int = 0

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
            f"relayed {relayed}/{self.published}, enriched {self.enriched_pushes} pushes, accepted "
            f"{self.accepted_pushes} push and {self.accepted_jobs} job events, dropped {self.dropped}, behind the database {self.behind}, parked {self.parked}, "
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

    copies = records[topics.push_enrichment]
    enriched = len(enriched_by_lookup(records[topics.pushes], copies))
    not_enriched = sum(1 for record in records[topics.pushes] if not is_enriched(record))

    stages = (
        StageBalance("push ingest", len(raw_pushes), pushes - enriched + dead_by_source[topics.raw_pushes]),
        StageBalance("enrichment copy", not_enriched, len(copies)),
        StageBalance("push enrichment", len(copies), enriched + dead_by_source[topics.push_enrichment]),
        StageBalance("push join", pushes, accepted_pushes + dead_by_source[topics.pushes]),
        # The join reads raw jobs in their push's partition and re-keys the others through
        # the job-by-revision topic, so one balance covers both paths: a re-keyed record is
        # in flight until the join handles it.
        StageBalance(
            "job ingest and join",
            len(raw_jobs),
            accepted_jobs
            + worker.dropped
            + worker.behind
            + worker.parked
            + dead_by_source[topics.raw_jobs]
            + dead_by_source[topics.jobs],
        ),
    )

    return Accounting(
        published=published,
        missing_lines=missing,
        stages=stages,
        accepted_pushes=accepted_pushes,
        accepted_jobs=accepted_jobs,
        enriched_pushes=enriched,
        dropped=worker.dropped,
        parked=worker.parked,
        behind=worker.behind,
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
    accepted_pushes: Sequence[KafkaRecord],
    dead_letters: Sequence[KafkaRecord],
    expected: Sequence[ExpectedOutcome],
) -> ExpectationCheck:
    """Compare outcome counts, accepted push keys and the reason of each dead letter with ``expected``."""
    check = ExpectationCheck()
    expected_counts = Counter(outcome.outcome for outcome in expected)
    expected_enriched = sum(1 for outcome in expected if outcome.enriched_key is not None)

    observed = {
        ACCEPTED_PUSH: (expected_counts[ACCEPTED_PUSH] + expected_enriched, accounting.accepted_pushes),
        "enriched push": (expected_enriched, accounting.enriched_pushes),
        PARKED: (expected_counts[PARKED], accounting.parked),
    }
    for outcome, (want, count) in observed.items():
        if count != want:
            check.differences.append(f"{outcome}: expected {want}, observed {count}")

    check.differences.extend(_push_key_differences(accepted_pushes, expected))

    # Delivery is at least once, so a redelivered event can overtake a later one of the same
    # job. The join then drops the late event if the later one is in its batch, and otherwise
    # does not send it because it is behind the stored row. A repeated completed event of a
    # later batch is sent again. The split between accepted, dropped and behind events depends
    # on delivery order and batching, but their sum does not, and the stored final states are
    # checked against the database separately. In a database that an earlier run filled, the
    # events behind their stored rows are not sent either.
    expected_job_events = expected_counts[ACCEPTED_JOB] + expected_counts[DROPPED_BY_STATE]
    observed_job_events = accounting.accepted_jobs + accounting.dropped + accounting.behind
    if observed_job_events != expected_job_events:
        check.differences.append(
            f"job events accepted, dropped by the state rule or behind the database: expected "
            f"{expected_job_events}, observed {observed_job_events}"
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


def _push_key_differences(accepted: Sequence[KafkaRecord], expected: Sequence[ExpectedOutcome]) -> list[str]:
    """List the push keys whose count of accepted records, enriched or not, differs from ``expected``."""
    want: Counter[tuple[str, bool]] = Counter()
    for outcome in expected:
        if outcome.outcome == ACCEPTED_PUSH and outcome.key is not None:
            want[(outcome.key, False)] += 1
        if outcome.enriched_key is not None:
            want[(outcome.enriched_key, True)] += 1

    got = Counter((record.key or "", is_enriched(record)) for record in accepted)
    return [
        f"push {key} {'enriched' if enriched else 'not enriched'}: expected {want[(key, enriched)]}, "
        f"observed {got[(key, enriched)]}"
        for key, enriched in sorted(set(want) | set(got))
        if want[(key, enriched)] != got[(key, enriched)]
    ]


def _source_topic(record: KafkaRecord) -> str | None:
    value = record.value if isinstance(record.value, dict) else {}
    source = value.get("source") or {}
    return source.get("topic")

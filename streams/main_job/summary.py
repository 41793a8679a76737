"""Text summary of a finished run: accepted records per repository, job states, dead letters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from streams.main_job.accounting import Accounting, ExpectationCheck
from streams.main_job.database import StoredRun
from streams.main_job.enrichment import MovedHead
from streams.main_job.observe import KafkaRecord


@dataclass(frozen=True)
class RunReport:
    """Everything the summary prints."""

    run_name: str
    database: str
    accounting: Accounting
    accepted_pushes: Sequence[KafkaRecord]
    accepted_jobs: Sequence[KafkaRecord]
    dead_letters: Sequence[KafkaRecord]
    moved_heads: Sequence[MovedHead]
    # Requests that the run's fixture server received.
    lookup_requests: int
    stored: StoredRun | None
    expectation: ExpectationCheck | None
    elapsed: float


def format_summary(report: RunReport) -> str:
    """Return the multi-line summary of ``report``."""
    accounting = report.accounting
    lines = [
        f"Run {report.run_name}: {accounting.published} messages published, database {report.database}",
        "",
        "Accepted per repository (events / distinct):",
    ]

    push_events = Counter(record.value["repository"] for record in report.accepted_pushes)
    push_distinct = Counter(repository for repository, _ in {_push_id(record) for record in report.accepted_pushes})
    job_events = Counter(record.value["repository"] for record in report.accepted_jobs)
    job_distinct = Counter(
        repository for repository, _ in {(r.value["repository"], r.value["job"]["job_guid"]) for r in report.accepted_jobs}
    )
    for repository in sorted(set(push_events) | set(job_events)):
        lines.append(
            f"  {repository:<22} pushes {push_events[repository]:>3} / {push_distinct[repository]:<3}"
            f" jobs {job_events[repository]:>4} / {job_distinct[repository]}"
        )

    if report.stored is not None:
        states = Counter((row["state"], row["result"]) for row in report.stored.jobs.values())
        lines += ["", "Stored jobs by state and result:"]
        lines += [f"  {state:<10} {result:<12} {count:>4}" for (state, result), count in sorted(states.items())]

    lines += ["", *_enrichment_lines(report)]

    reasons = Counter(str((record.value or {}).get("reason")) for record in report.dead_letters)
    lines += ["", f"Dead-lettered messages: {accounting.dead_letters}"]
    lines += [f"  {reason:<22} {count:>4}" for reason, count in sorted(reasons.items())]

    lines += [
        "",
        f"Job events dropped by the state rule: {accounting.dropped}",
        f"Job events behind their stored rows, not sent: {accounting.behind}",
        f"Jobs still parked waiting for their push: {accounting.parked}",
    ]
    if accounting.foreign_messages:
        lines.append(f"Messages from other publishers relayed during the run: {accounting.foreign_messages}")

    lines.append("")
    lines += _verdict(report)

    rate = accounting.published / report.elapsed if report.elapsed > 0 else 0.0
    lines.append(f"Elapsed {report.elapsed:.1f} s from the first publish, {rate:.1f} messages/s")
    return "\n".join(lines)


def _enrichment_lines(report: RunReport) -> list[str]:
    enriched_keys = {_push_id(record) for record in report.accepted_pushes if record.value.get("enriched")}
    lines = [
        f"Pushes enriched with their commit list: {report.accounting.enriched_pushes} push events, "
        f"{len(enriched_keys)} distinct pushes; {report.lookup_requests} lookup requests served by the local fixture server",
    ]
    if report.moved_heads:
        lines.append("Pushes stored under two revisions because the looked-up head differs from the head in the message:")
        lines += [f"  {head.message_key} (message, not enriched) -> {head.enriched_key} (enriched)" for head in report.moved_heads]
    return lines


def _verdict(report: RunReport) -> list[str]:
    accounting = report.accounting
    lines: list[str] = []

    if accounting.settled:
        lines.append(f"All {accounting.published} messages accounted for.")
    else:
        lines.append(f"UNACCOUNTED: {accounting.unaccounted} messages have no outcome.")
        if accounting.missing_lines:
            shown = ", ".join(map(str, accounting.missing_lines[:20]))
            lines.append(f"  never reached Kafka: lines {shown}")
        lines += [f"  {stage.stage}: {stage.inputs} in, {stage.outcomes} out" for stage in accounting.stages if stage.gap]

    if report.stored is not None and report.stored.missing:
        lines.append(f"NOT IN THE DATABASE: {len(report.stored.missing)} accepted records")
        lines += [f"  {item}" for item in report.stored.missing[:20]]

    if report.expectation is not None and not report.expectation.matches:
        lines.append("DIFFERENT FROM THE EXPECTED OUTCOMES:")
        lines += [f"  {item}" for item in report.expectation.differences[:20]]
    return lines


def _push_id(record: KafkaRecord) -> tuple[str, str]:
    return record.value["repository"], record.value["revision"]

"""Message ids and job events extracted from a run's Kafka records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from streams.main_job.observe import MESSAGE_ID_HEADER, KafkaRecord
from streams.transforms.job import job_result


@dataclass(frozen=True)
class JobEvent:
    """One job event of the raw job or job-by-revision topic, in the order the join agent reads it."""

    message_id: str | None
    guid: str
    state: str
    result: str
    partition: int
    offset: int


def ids_on(records: Iterable[KafkaRecord]) -> set[str]:
    """Return the message ids carried in the `amqp.message_id` header of ``records``."""
    return {message_id for record in records if (message_id := record.headers.get(MESSAGE_ID_HEADER))}


def dead_letter_reasons(records: Sequence[KafkaRecord]) -> dict[str, str]:
    """Map each dead-lettered message id to its reason; the first record of an id wins."""
    reasons: dict[str, str] = {}
    for record in records:
        value = record.value if isinstance(record.value, dict) else {}
        message_id = (value.get("headers") or {}).get(MESSAGE_ID_HEADER)
        if message_id and message_id not in reasons:
            reasons[message_id] = str(value.get("reason"))
    return reasons


def dead_letter_repeats(records: Sequence[KafkaRecord]) -> int:
    """Count dead-letter records beyond the first of each message id (replays after a restart)."""
    counts = Counter(
        (record.value.get("headers") or {}).get(MESSAGE_ID_HEADER)
        for record in records
        if isinstance(record.value, dict)
    )
    return sum(count - 1 for message_id, count in counts.items() if message_id)


def push_keys_by_id(records: Sequence[KafkaRecord]) -> dict[str, str]:
    """Map message ids of push-by-revision records to their `<repository>/<revision>` key."""
    keys: dict[str, str] = {}
    for record in records:
        message_id = record.headers.get(MESSAGE_ID_HEADER)
        value = record.value if isinstance(record.value, dict) else {}
        if message_id and "repository" in value and "revision" in value:
            keys[message_id] = f"{value['repository']}/{value['revision']}"
    return keys


def job_events(records: Sequence[KafkaRecord]) -> list[JobEvent]:
    """Return the job events of job-by-revision records, ordered by partition and offset.

    All events of one job share a key, hence a partition, so this is the order of the join agent.
    """
    events = []
    for record in sorted(records, key=lambda item: (item.partition, item.offset)):
        job = _job_of(record.value)
        if job is None:
            continue
        events.append(
            JobEvent(
                message_id=record.headers.get(MESSAGE_ID_HEADER),
                guid=str(job["job_guid"]),
                state=str(job["state"]),
                result=str(job.get("result")),
                partition=record.partition,
                offset=record.offset,
            )
        )
    return events


def raw_job_events(records: Sequence[KafkaRecord]) -> list[JobEvent]:
    """Return the job events of raw pulse-job records, ordered by partition and offset.

    A record that cannot become a job (not an object, no task id or state, an unknown
    result) is left out, because the worker dead-letters it. All events of one job share a
    partition, because the bridge keys a pulse job by its push.
    """
    events = []
    for record in sorted(records, key=lambda item: (item.partition, item.offset)):
        value = record.value
        if not isinstance(value, dict):
            continue
        guid, state = value.get("taskId"), value.get("state")
        if not isinstance(guid, str) or not isinstance(state, str):
            continue
        try:
            result = job_result(value)
        except (KeyError, TypeError):
            continue

        events.append(
            JobEvent(
                message_id=record.headers.get(MESSAGE_ID_HEADER),
                guid=guid,
                state=state,
                result=result,
                partition=record.partition,
                offset=record.offset,
            )
        )
    return events


def all_job_events(raw_jobs: Sequence[KafkaRecord], jobs: Sequence[KafkaRecord]) -> list[JobEvent]:
    """Return the events of the raw job topic, then the job-by-revision events of other origin.

    The other origin is task events, whose jobs only the job-by-revision topic contains.
    The join reads most raw jobs in place. It re-keys the others to the job-by-revision topic
    with their headers, so a message id found on the raw topic is counted once.
    """
    raw = raw_job_events(raw_jobs)
    seen = {event.message_id for event in raw if event.message_id}
    return raw + [event for event in job_events(jobs) if event.message_id not in seen]


def accepted_states(records: Sequence[KafkaRecord]) -> dict[str, list[str]]:
    """Return the states of each job guid on the accepted-job topic, in offset order."""
    states: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda item: (item.partition, item.offset)):
        job = _job_of(record.value)
        if job is not None:
            states.setdefault(str(job["job_guid"]), []).append(str(job["state"]))
    return states


def _job_of(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not isinstance(value.get("job"), dict):
        return None
    job = value["job"]
    if "job_guid" not in job or "state" not in job:
        return None
    return job

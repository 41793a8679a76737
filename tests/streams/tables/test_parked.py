"""Parked-job entries: arrival order, duplicates and expiry."""

from __future__ import annotations

from streams.tables.parked import add_job, make_parked_job, source_of, split_expired
from tests.streams.conftest import job_guid, job_record, revision_for


def parked(make_source, index, state="running", at=0.0, offset=None):
    offset = index if offset is None else offset
    record = job_record(job_guid(index), revision_for("p"), state)
    source = make_source("jobs", record, key="autoland/x", partition=2, offset=offset)
    return make_parked_job(record, source, at)


def test_jobs_keep_arrival_order(make_source):
    entry, _ = add_job(None, 2, parked(make_source, 1))
    entry, _ = add_job(entry, 2, parked(make_source, 2))

    assert [job["record"]["job"]["job_guid"] for job in entry["jobs"]] == [job_guid(1), job_guid(2)]
    assert entry["partition"] == 2


def test_replayed_event_is_not_added_twice(make_source):
    entry, _ = add_job(None, 2, parked(make_source, 1, offset=1))

    entry, added = add_job(entry, 2, parked(make_source, 1, offset=1))

    assert added is False
    assert len(entry["jobs"]) == 1


def test_equal_record_from_other_offset_is_added(make_source):
    entry, _ = add_job(None, 2, parked(make_source, 1, offset=1))

    entry, added = add_job(entry, 2, parked(make_source, 1, offset=2))

    assert added is True
    assert len(entry["jobs"]) == 2


def test_add_job_leaves_input_unchanged(make_source):
    first, _ = add_job(None, 2, parked(make_source, 1))

    add_job(first, 2, parked(make_source, 2))

    assert len(first["jobs"]) == 1


def test_split_expired_at_window_boundary(make_source):
    entry, _ = add_job(None, 2, parked(make_source, 1, at=0.0))
    entry, _ = add_job(entry, 2, parked(make_source, 2, at=5.0))

    waiting, expired = split_expired(entry, now=10.0, window=10.0)

    assert [job["record"]["job"]["job_guid"] for job in expired] == [job_guid(1)]
    assert [job["record"]["job"]["job_guid"] for job in waiting] == [job_guid(2)]


def test_source_of_rebuilds_coordinates(make_source):
    source = source_of(parked(make_source, 1, offset=33))

    assert (source.topic, source.partition, source.offset, source.key) == ("jobs", 2, 33, b"autoland/x")

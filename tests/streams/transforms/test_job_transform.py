"""Tests of transform_pulse_job against Treeherder's sample jobs and its field rules."""

from __future__ import annotations

import copy

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.transforms.job import transform_pulse_job
from streams.validation.validator import get_validator

JOB_COUNT = 30


@pytest.mark.parametrize("index", range(JOB_COUNT))
def test_corpus_job_matches_treeherder(index, make_pulse_job, registry, corpus):
    expected = corpus("transformed_job_data.json")[index]

    record = transform_pulse_job(make_pulse_job(index), registry)

    assert record["job"] == expected["job"]
    assert record["revision"] == expected["revision"]
    assert record["superseded"] == expected["superseded"]
    assert record["repository"] == "autoland"


@pytest.mark.parametrize("index", range(JOB_COUNT))
def test_corpus_record_matches_schema(index, make_pulse_job, registry):
    record = transform_pulse_job(make_pulse_job(index), registry)

    assert get_validator("job-record").errors(record) == []


def test_message_not_mutated(make_pulse_job, registry):
    message = make_pulse_job(owner="o" * 80)
    message["origin"].update({"kind": "hg.mozilla.org", "pushLogID": 7})
    before = copy.deepcopy(message)

    transform_pulse_job(message, registry)

    assert message == before


def test_long_owner_cut(make_pulse_job, registry):
    record = transform_pulse_job(make_pulse_job(owner="o" * 51), registry)

    assert record["job"]["who"] == "o" * 49


def test_owner_of_fifty_kept(make_pulse_job, registry):
    record = transform_pulse_job(make_pulse_job(owner="o" * 50), registry)

    assert record["job"]["who"] == "o" * 50


def test_missing_owner_unknown(make_pulse_job, registry):
    record = transform_pulse_job(make_pulse_job(owner=None), registry)

    assert record["job"]["who"] == "unknown"


@pytest.mark.parametrize(
    "extra, expected_id",
    [
        ({"kind": "hg.mozilla.org", "pushLogID": 42}, 42),
        ({"kind": "github.com", "owner": "mozilla", "pullRequestID": 1692}, 1692),
    ],
)
def test_annotated_origin_normalized(extra, expected_id, make_pulse_job, registry):
    message = make_pulse_job()
    message["origin"].update(extra)

    record = transform_pulse_job(message, registry)

    assert record["revision"] == message["origin"]["revision"]


def test_revision_hash_only_rejected(make_pulse_job, registry):
    message = make_pulse_job()
    message["origin"] = {"project": "autoland", "revision_hash": "a" * 40}

    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(message, registry)

    assert caught.value.reason is RejectReason.REVISION_HASH_ONLY


@pytest.mark.parametrize(
    "project, reason",
    [
        ("no-such-repository", RejectReason.UNKNOWN_REPOSITORY),
        ("kaios", RejectReason.INACTIVE_REPOSITORY),
    ],
)
def test_repository_rejected(project, reason, make_pulse_job, registry):
    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(make_pulse_job(project=project), registry)

    assert caught.value.reason is reason


@pytest.mark.parametrize(
    "field, value",
    [
        ("jobKind", "compile"),
        ("state", "finished"),
        ("version", 2),
        ("labels", ["bad label"]),
        ("unexpected", 1),
    ],
)
def test_invalid_field_rejected(field, value, make_pulse_job, registry):
    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(make_pulse_job(**{field: value}), registry)

    assert caught.value.reason is RejectReason.SCHEMA


def test_short_revision_rejected(make_pulse_job, registry):
    message = make_pulse_job()
    message["origin"]["revision"] = message["origin"]["revision"][:12]

    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(message, registry)

    assert caught.value.detail[0]["path"] == "$.origin.revision"


def test_job_name_over_100_accepted(make_pulse_job, registry):
    message = make_pulse_job()
    message["display"]["jobName"] = "n" * 139

    record = transform_pulse_job(message, registry)

    assert record["job"]["name"] == "n" * 139


@pytest.mark.parametrize(
    "state, result, kind, retried, expected",
    [
        ("completed", "success", "test", False, "success"),
        ("completed", "fail", "test", False, "testfailed"),
        ("completed", "fail", "build", False, "busted"),
        ("completed", "fail", "other", False, "busted"),
        ("completed", "exception", "test", False, "exception"),
        ("completed", "canceled", "build", False, "usercancel"),
        ("completed", "superseded", "test", False, "superseded"),
        ("completed", "retry", "test", False, "retry"),
        ("completed", "unknown", "test", False, "unknown"),
        ("completed", None, "test", False, "unknown"),
        ("completed", "success", "test", True, "retry"),
        ("completed", "fail", "build", True, "retry"),
        ("running", "fail", "test", False, "unknown"),
        ("pending", "success", "test", False, "unknown"),
        ("unscheduled", "unknown", "test", False, "unknown"),
    ],
)
def test_result_rule(state, result, kind, retried, expected, make_pulse_job, registry):
    message = make_pulse_job(state=state, result=result, jobKind=kind, isRetried=retried)

    record = transform_pulse_job(message, registry)

    assert record["job"]["result"] == expected


def test_chunk_id_appended(make_pulse_job, registry):
    message = make_pulse_job()
    message["display"].update({"jobSymbol": "bc", "chunkId": 3})

    record = transform_pulse_job(message, registry)

    assert record["job"]["job_symbol"] == "bc3"


def test_only_run_machine_used_twice(make_pulse_job, registry):
    message = make_pulse_job(buildMachine=None)
    message["runMachine"] = {"platform": "p", "os": "o", "architecture": "a", "name": "m"}

    job = transform_pulse_job(message, registry)["job"]

    assert job["build_platform"] == {"platform": "p", "os_name": "o", "architecture": "a"}
    assert job["machine_platform"] == job["build_platform"]
    assert job["machine"] == "m"


def test_no_machine_empty_platforms(make_pulse_job, registry):
    job = transform_pulse_job(make_pulse_job(buildMachine=None, runMachine=None), registry)["job"]

    assert job["build_platform"] == {}
    assert job["machine_platform"] == {}
    assert job["machine"] == "unknown"


def test_labels_become_options(make_pulse_job, registry):
    job = transform_pulse_job(make_pulse_job(labels=["opt", "asan"]), registry)["job"]

    assert job["option_collection"] == {"opt": True, "asan": True}


def test_errorsummary_link_logged(make_pulse_job, registry):
    url = "https://example.com/public/test_info/mochitest_errorsummary.log"
    message = make_pulse_job(
        jobInfo={"links": [{"url": url, "linkText": "mochitest_errorsummary.log", "label": "a"}]}
    )

    references = transform_pulse_job(message, registry)["job"]["log_references"]

    assert references[-1] == {"name": "errorsummary_json", "url": url, "parse_status": "pending"}


def test_perfherder_link_referenced(make_pulse_job, registry):
    url = "https://example.com/public/perfherder-data-talos.json"
    message = make_pulse_job(
        jobInfo={"links": [{"url": url, "linkText": "perfherder-data-talos.json", "label": "a"}]}
    )

    references = transform_pulse_job(message, registry)["job"]["perfherder_data_references"]

    assert references == [
        {"name": "perfherder-data-talos.json", "url": url, "parse_status": "pending"}
    ]


def test_missing_times_omitted(make_pulse_job, registry):
    message = make_pulse_job(timeStarted=None, timeCompleted=None)

    job = transform_pulse_job(message, registry)["job"]

    assert "start_timestamp" not in job
    assert "end_timestamp" not in job
    assert "submit_timestamp" in job


def test_invalid_date_rejected(make_pulse_job, registry):
    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(make_pulse_job(timeStarted="2025-13-40T99:00:00Z"), registry)

    assert caught.value.reason is RejectReason.SCHEMA


def test_coalesced_become_superseded(make_pulse_job, registry):
    record = transform_pulse_job(make_pulse_job(coalesced=["abc/0", "def/1"]), registry)

    assert record["superseded"] == ["abc/0", "def/1"]


def test_non_uuid_guid_has_no_task_ids(make_pulse_job, registry):
    job = transform_pulse_job(make_pulse_job(taskId="abc/0"), registry)["job"]

    assert "taskcluster_task_id" not in job
    assert "taskcluster_retry_id" not in job


def test_unexpected_error_typed(make_pulse_job, registry, monkeypatch):
    def explode(pulse_job):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("streams.transforms.job.build_job_fields", explode)

    with pytest.raises(RejectedMessage) as caught:
        transform_pulse_job(make_pulse_job(), registry)

    assert caught.value.reason is RejectReason.TRANSFORM_ERROR
    assert caught.value.detail["exception"] == "ZeroDivisionError"

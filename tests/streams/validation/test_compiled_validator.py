"""Tests of CompiledValidator: verdicts, error detail and agreement with jsonschema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.errors import RejectedMessage, RejectReason
from streams.validation.detail import MAX_ERRORS, MAX_VALUE_CHARS, json_path, truncate
from streams.validation.validator import get_validator

CORPUS = Path(__file__).resolve().parents[2] / "data" / "treeherder"

VALIDATOR = get_validator("pulse-job")


def read_corpus(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def corpus_documents() -> dict[str, list[Any]]:
    """Return valid corpus documents for each input schema."""
    jobs = read_corpus("job_data.json")
    for job in jobs:
        job["origin"]["project"] = "autoland"
    return {
        "pulse-job": jobs,
        "hg-push-v1": [read_corpus("hg_push.json")],
        "github-push": [delivery["payload"] for delivery in read_corpus("github_push.json")],
        "github-pull-request": [read_corpus("github_pr.json")],
    }


DOCUMENTS = corpus_documents()


def rejection(document: Any) -> RejectedMessage:
    with pytest.raises(RejectedMessage) as caught:
        VALIDATOR.validate(document)
    return caught.value


@pytest.fixture
def make_job():
    """Build a fresh copy of corpus pulse job ``index`` on a registered repository."""

    def build(index: int = 0) -> dict[str, Any]:
        return copy.deepcopy(DOCUMENTS["pulse-job"][index])

    return build


def test_corpus_reference_agrees():
    assert all(VALIDATOR.reference.is_valid(job) for job in DOCUMENTS["pulse-job"])


def test_validator_cached():
    assert get_validator("pulse-job") is VALIDATOR


def test_detail_entry(make_job):
    job = make_job()
    job["display"]["jobName"] = "n" * 500

    error = rejection(job)

    assert error.reason is RejectReason.SCHEMA
    assert error.detail[0]["path"] == "$.display.jobName"
    assert error.detail[0]["rule"] == "maxLength"
    assert len(error.detail[0]["value"]) == MAX_VALUE_CHARS


def test_detail_array_path(make_job):
    job = make_job()
    job["logs"][0]["name"] = ""

    assert rejection(job).detail[0]["path"] == "$.logs[0].name"


def test_detail_missing_property(make_job):
    job = make_job()
    del job["origin"]["revision"]

    entry = rejection(job).detail[0]

    assert entry["path"] == "$.origin.revision"
    assert entry["rule"] == "required"


def test_detail_lists_every_error(make_job):
    job = make_job()
    job["state"] = "finished"
    job["tier"] = 9

    rules = {(entry["path"], entry["rule"]) for entry in rejection(job).detail}

    assert rules == {("$.state", "enum"), ("$.tier", "maximum")}


def test_detail_capped(make_job):
    job = make_job()
    job["labels"] = ["bad label"] * (MAX_ERRORS + 5)

    error = rejection(job)

    assert len(error.detail) == MAX_ERRORS
    assert f"more than {MAX_ERRORS}" in error.message


def test_not_an_object():
    assert rejection([1, 2]).detail[0]["rule"] == "type"


def test_deep_document_rejected(make_job):
    job = make_job()
    nested: Any = []
    for _ in range(5000):
        nested = [nested]
    job["jobInfo"]["summary"] = nested

    assert rejection(job).reason is RejectReason.SCHEMA


@pytest.mark.parametrize(
    "field, value",
    [
        ("revision", "a" * 40 + "\n"),
        ("revision", "A" * 40),
        ("revision", "a" * 39),
        ("project", "autoland\n"),
    ],
)
def test_origin_pattern_both_reject(field, value, make_job):
    job = make_job()
    job["origin"][field] = value

    assert VALIDATOR.is_valid(job) is False
    assert VALIDATOR.reference.is_valid(job) is False


def test_time_trailing_newline_both_reject(make_job):
    job = make_job()
    job["timeStarted"] += "\n"

    assert VALIDATOR.is_valid(job) is False
    assert VALIDATOR.reference.is_valid(job) is False


@pytest.mark.parametrize(
    "parts, expected",
    [
        ([], "$"),
        (["display", "jobName"], "$.display.jobName"),
        (["logs", 0, "url"], "$.logs[0].url"),
        (["details", "event.head.sha"], "$.details['event.head.sha']"),
    ],
)
def test_json_path(parts, expected):
    assert json_path(parts) == expected


def test_truncate_marks_cut():
    assert truncate("abcdef", 4) == "abc\u2026"


def test_truncate_keeps_short():
    assert truncate("abc", 4) == "abc"


# Values that exercise type, bound, pattern and enum checks, including bool/int edge cases.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 0, -1, "", "\n", "a" * 40 + "\n", "x" * 300, "completed", "test"]),
    st.text(max_size=60),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths_of(document: Any, prefix: tuple = ()) -> list[tuple]:
    """List the path of every value inside ``document``."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(paths_of(value, (*prefix, index)))
    return found


@st.composite
def mutated(draw, documents: list[Any]) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path in paths_of(document) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()):
            parent[path[-1]] = draw(ODD_VALUES)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.append(draw(ODD_VALUES))
    return document


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_corpus_documents_valid(name):
    validator = get_validator(name)

    assert all(validator.is_valid(document) for document in DOCUMENTS[name])


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_libraries_agree_on_mutations(name):
    validator = get_validator(name)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated(DOCUMENTS[name]))
    def check(document):
        assert validator.is_valid(document) == validator.reference.is_valid(document)

    check()


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda children: st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=10,
    )
)
def test_libraries_agree_on_random_json(document):
    assert VALIDATOR.is_valid(document) == VALIDATOR.reference.is_valid(document)

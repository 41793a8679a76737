"""Property tests: only RejectedMessage, with a RejectReason, escapes the public transforms."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.decode import decode_json
from streams.transforms.job import transform_pulse_job
from streams.transforms.push import (
    GITHUB_PULL_REQUEST,
    GITHUB_PUSH,
    HG_PUSH_V1,
    HG_PUSH_V2,
    transform_push,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "treeherder"
REGISTRY = RepositoryRegistry.load()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def pulse_jobs() -> list[dict[str, Any]]:
    jobs = read("job_data.json")
    for job in jobs:
        job["origin"]["project"] = "autoland"
    return jobs


JOBS = pulse_jobs()
HG_PUSH = read("hg_push.json")
GITHUB_PUSHES = [delivery["payload"] for delivery in read("github_push.json")]
PULL_REQUEST = read("github_pr.json")
LOOKUPS = {
    HG_PUSH_V1: read("hg_push_commits.json"),
    GITHUB_PUSH: read("github_push_compare.json")[0],
    GITHUB_PULL_REQUEST: read("github_pr_commits.json"),
}

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(["0" * 40, "a" * 40, "changegroup.1", "2020-01-01T00:00:00Z", "*"]),
    ),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def all_paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(all_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(all_paths(value, (*prefix, index)))
    return found


@st.composite
def mutations(draw, documents: list[Any]) -> Any:
    """Replace, delete or append up to three values anywhere in a corpus document."""
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = [path for path in all_paths(document) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "append"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(draw(JSON_VALUES))
    return document


def assert_only_rejections(call, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except RejectedMessage as error:
        assert isinstance(error.reason, RejectReason)
        # A TRANSFORM_ERROR is typed too, but it means a check is missing before the transform.
        assert error.reason is not RejectReason.TRANSFORM_ERROR, error.message


@SETTINGS
@given(mutations(JOBS))
def test_job_mutations(message):
    assert_only_rejections(transform_pulse_job, message, REGISTRY)


@SETTINGS
@given(JSON_VALUES)
def test_job_random_json(message):
    assert_only_rejections(transform_pulse_job, message, REGISTRY)


@SETTINGS
@given(
    st.sampled_from([HG_PUSH_V1, GITHUB_PUSH, GITHUB_PULL_REQUEST]),
    st.booleans(),
    st.data(),
)
def test_push_mutations(exchange, with_lookup, data):
    messages = {
        HG_PUSH_V1: [HG_PUSH],
        GITHUB_PUSH: GITHUB_PUSHES,
        GITHUB_PULL_REQUEST: [PULL_REQUEST],
    }[exchange]
    message = data.draw(mutations(messages))
    lookup = data.draw(mutations([LOOKUPS[exchange]])) if with_lookup else None

    assert_only_rejections(transform_push, exchange, message, REGISTRY, lookup)


@SETTINGS
@given(
    st.sampled_from([HG_PUSH_V1, HG_PUSH_V2, GITHUB_PUSH, GITHUB_PULL_REQUEST, "other"]),
    JSON_VALUES,
    st.one_of(st.none(), JSON_VALUES),
)
def test_push_random_json(exchange, message, lookup):
    assert_only_rejections(transform_push, exchange, message, REGISTRY, lookup)


@SETTINGS
@given(st.binary(max_size=200))
def test_decode_random_bytes(body):
    assert_only_rejections(decode_json, body)


@SETTINGS
@given(JSON_VALUES)
def test_decode_round_trip(value):
    body = json.dumps(value).encode()

    assert decode_json(body) == value

"""Tests of the Taskcluster id and timestamp helpers used by the job transform."""

from __future__ import annotations

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.transforms.taskcluster_ids import slug_from_uuid, task_and_retry_ids, uuid_from_slug
from streams.transforms.timestamps import to_epoch_seconds

SLUG = "AI3Nrr3gSDSpZ9E9aBA3rg"
UUID = "008dcdae-bde0-4834-a967-d13d681037ae"


def test_slug_from_uuid():
    assert slug_from_uuid(UUID) == SLUG


def test_uuid_from_slug():
    assert uuid_from_slug(SLUG) == UUID


@pytest.mark.parametrize(
    "guid, expected",
    [
        (f"{UUID}/0", (SLUG, 0)),
        (f"{UUID}/12", (SLUG, 12)),
        (f"{UUID}", None),
        (f"{UUID}/x", None),
        (f"{UUID}/0/1", None),
        ("not-a-uuid/0", None),
    ],
)
def test_task_and_retry_ids(guid, expected):
    assert task_and_retry_ids(guid) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-02-26T22:45:17-08:00", 1740638717),
        ("2025-02-27T06:45:17Z", 1740638717),
        ("2025-02-27T06:45:17", 1740638717),
        ("2025-02-27T06:45:17.999Z", 1740638717),
        ("2025-02-27T06:45:17+00:00", 1740638717),
    ],
)
def test_to_epoch_seconds(value, expected):
    assert to_epoch_seconds(value, "timeStarted") == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", "2025-02-27T06:45:17+25:00"])
def test_to_epoch_seconds_invalid(value):
    with pytest.raises(RejectedMessage) as caught:
        to_epoch_seconds(value, "timeStarted")

    assert caught.value.reason is RejectReason.SCHEMA

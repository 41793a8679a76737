"""Factory fixtures for the bridge tests: deliveries and environments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from bridge.delivery import Delivery

LOCAL_URL = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"


@pytest.fixture
def make_delivery() -> Callable[..., Delivery]:
    """Return a factory of deliveries with test defaults that keyword arguments replace."""

    def make(**overrides: Any) -> Delivery:
        values: dict[str, Any] = {
            "body": b"{}",
            "exchange": "exchange/taskcluster-treeherder/v1/jobs",
            "routing_key": "tc-treeherder.v2.autoland",
            "delivery_tag": 1,
            "redelivered": False,
            "generation": 1,
            "received_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc),
        }
        values.update(overrides)
        return Delivery(**values)

    return make


@pytest.fixture
def make_env() -> Callable[..., dict[str, str]]:
    """Return a factory of environments with PULSE_URL set, extended by keyword arguments."""

    def make(**variables: str) -> dict[str, str]:
        return {"PULSE_URL": LOCAL_URL, **variables}

    return make

"""Factories for transform tests: corpus messages, lookups and the shipped registry."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams.registry.repositories import RepositoryRegistry

CORPUS = Path(__file__).resolve().parents[2] / "data" / "treeherder"


@cache
def _read(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def corpus(name: str) -> Any:
    """Return a fresh deep copy of a Treeherder sample file."""
    return copy.deepcopy(_read(name))


@pytest.fixture(name="corpus")
def corpus_fixture() -> Callable[[str], Any]:
    """Return the loader of Treeherder sample files (fresh copies)."""
    return corpus


@pytest.fixture(scope="session")
def registry() -> RepositoryRegistry:
    return RepositoryRegistry.load()


@pytest.fixture
def make_pulse_job() -> Callable[..., dict[str, Any]]:
    """Build a corpus pulse job on ``autoland`` with top-level keys replaced or removed."""

    def build(index: int = 0, project: str = "autoland", **overrides: Any) -> dict[str, Any]:
        job = corpus("job_data.json")[index]
        job["origin"]["project"] = project
        for key, value in overrides.items():
            if value is None:
                job.pop(key, None)
            else:
                job[key] = value
        return job

    return build

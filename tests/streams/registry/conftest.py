"""Factories for registry tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams.registry.repositories import Repository, RepositoryRegistry

GITHUB_URL = "https://github.com/mozilla/test_treeherder"


@pytest.fixture
def make_repository() -> Callable[..., Repository]:
    """Build a git repository on ``GITHUB_URL`` unless other fields are given."""

    def build(name: str = "test_treeherder", *rules: str, **fields: Any) -> Repository:
        values: dict[str, Any] = {"url": GITHUB_URL, "dvcs_type": "git", "branch_rules": rules}
        values.update(fields)
        return Repository(name=name, **values)

    return build


@pytest.fixture
def make_registry(make_repository) -> Callable[..., RepositoryRegistry]:
    """Build a registry from ``(name, rules...)`` tuples or Repository objects."""

    def build(*entries: Any) -> RepositoryRegistry:
        repositories = [
            entry if isinstance(entry, Repository) else make_repository(*entry)
            for entry in entries
        ]
        return RepositoryRegistry(repositories)

    return build

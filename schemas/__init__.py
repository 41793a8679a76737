"""JSON Schemas (draft-07, YAML) for the messages this project reads and the records it emits."""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Any

import yaml

logger = logging.getLogger(__name__)

SCHEMA_NAMES: tuple[str, ...] = (
    "pulse-job",
    "hg-push-v1",
    "hg-push-v2",
    "github-push",
    "github-pull-request",
    "push-record",
    "job-record",
    "dead-letter-record",
    "task-treeherder-config",
)
"""Names accepted by ``load_schema``; each is the stem of a ``schemas/<name>.yml`` file."""


@functools.cache
def _load_cached(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.yml").read_text(encoding="utf-8")
    schema = yaml.safe_load(text)
    if not isinstance(schema, dict):
        raise ValueError(f"schema file {name}.yml does not contain a mapping")
    return schema


def load_schema(name: str) -> dict[str, Any]:
    """Read ``schemas/<name>.yml`` from the installed package and return a fresh copy.

    Raises KeyError for a name missing from ``SCHEMA_NAMES``.
    """
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}")

    return _copy(_load_cached(name))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value

"""Bundled sample Pulse messages and their expected outcomes, shipped as package data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

MESSAGES_FILE = "pulse-messages.jsonl"
EXPECTED_FILE = "expected-outcomes.jsonl"

# Folder of upstream lookup responses (json-pushes, GitHub compare, pull request commits) in the
# layout that streams.lookups.fixture_server.FixtureData.load reads.
LOOKUPS_DIR = "lookups"

# Outcomes that `expected-outcomes.jsonl` assigns to a sample line.
ACCEPTED_PUSH = "accepted-push"
ACCEPTED_JOB = "accepted-job"
DROPPED_BY_STATE = "dropped-by-state"
PARKED = "parked"
DEAD_LETTER = "dead-letter"
OUTCOMES = (ACCEPTED_PUSH, ACCEPTED_JOB, DROPPED_BY_STATE, PARKED, DEAD_LETTER)


@dataclass(frozen=True)
class ExpectedOutcome:
    """Expected outcome of one sample line, with the rejection reason of a dead letter.

    ``enriched_key`` is set on a push line whose commit lookup succeeds: the line then also
    yields an enriched push record under that `<repository>/<revision>` key, which differs
    from ``key`` when the looked-up head is not the head that the message names.
    """

    line: int
    outcome: str
    reason: str | None = None
    key: str | None = None
    enriched_key: str | None = None


def samples_dir() -> Path:
    """Return the folder of the bundled sample files."""
    return Path(str(resources.files(__name__)))


def messages_path() -> Path:
    """Return the JSON-lines file of bundled sample messages."""
    return samples_dir() / MESSAGES_FILE


def lookups_path() -> Path:
    """Return the folder of bundled lookup responses that the main job's fixture server serves."""
    return samples_dir() / LOOKUPS_DIR


def load_expected(path: Path | None = None) -> list[ExpectedOutcome]:
    """Read the expected outcome of every sample line, in line order."""
    source = path or samples_dir() / EXPECTED_FILE
    outcomes: list[ExpectedOutcome] = []

    for text in source.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        entry: dict[str, Any] = json.loads(text)
        if entry["outcome"] not in OUTCOMES:
            raise ValueError(f"{source}: unknown outcome {entry['outcome']!r} of line {entry['line']}")
        outcomes.append(
            ExpectedOutcome(
                line=int(entry["line"]),
                outcome=entry["outcome"],
                reason=entry.get("reason"),
                key=entry.get("key"),
                enriched_key=entry.get("enriched_key"),
            )
        )
    return outcomes

"""Summary of a py-spy collapsed-stack file: top functions and shares by component."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Component of a frame, chosen by the first pattern its file path matches.
# py-spy reports paths relative to sys.path, such as `faust/agents/agent.py`.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("idle (waiting in select)", r"^selectors\.py"),
    ("json encode/decode", r"(^|/)json/|orjson|ujson"),
    ("schema validation", r"fastjsonschema|streams/validation/|jsonschema"),
    ("transforms", r"streams/transforms/"),
    ("database (SQLAlchemy, asyncpg)", r"sqlalchemy|asyncpg|streams/sinks/database/"),
    ("RocksDB tables", r"rocksdict|faust/stores/|streams/tables/"),
    ("aiokafka", r"(^|/)aiokafka/"),
    ("Faust and mode", r"(^|/)faust/|(^|/)mode/"),
    ("asyncio event loop", r"(^|/)asyncio/"),
    ("pulse-ingest agents", r"streams/agents/"),
)

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")


@dataclass(frozen=True)
class ProfileSummary:
    """Sample counts of one profile."""

    samples: int
    top_self: list[tuple[str, int]]
    inclusive_by_component: dict[str, int]
    self_by_component: dict[str, int]


def _component(file_name: str) -> str | None:
    for name, pattern in COMPONENTS:
        if re.search(pattern, file_name):
            return name
    return None


def _split_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match.group("function"), match.group("file")


def summarize(path: Path, top: int = 15) -> ProfileSummary:
    """Read a `py-spy record --format raw` file and count samples per leaf function and component."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_components: Counter[str] = Counter()
    total = 0

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_split_frame(frame) for frame in stack.split(";")]

        function, file_name = frames[-1]
        self_counts[f"{function} ({file_name})"] += count
        self_components[_component(file_name) or "other"] += count

        seen = {_component(name) for _, name in frames} - {None}
        for component in seen:
            inclusive[component] += count  # type: ignore[index]

    return ProfileSummary(
        samples=total,
        top_self=self_counts.most_common(top),
        inclusive_by_component=dict(inclusive.most_common()),
        self_by_component=dict(self_components.most_common()),
    )

"""Summary of a py-spy collapsed-stack file: top functions and shares by component and thread."""

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

# First frame of every stack of a thread started with `threading.Thread`. py-spy samples
# every thread, so the worker's other threads (Faust's consumer thread with its own event
# loop, the Prometheus metrics server) appear beside the main thread. Stacks with any other
# root belong to the main thread, including SQLAlchemy's greenlet stacks, which py-spy
# shows without the frames of the event loop that runs them.
_THREAD_ROOT = "Thread._bootstrap ("

# Thread names by a file in the thread's stack. A thread that matches none is named by the
# fourth frame of its stack, the first one after `_bootstrap`, `_bootstrap_inner` and `run`.
_THREAD_NAMES: tuple[tuple[str, str], ...] = (
    ("Faust consumer thread", r"mode/threads\.py"),
    ("metrics HTTP server", r"socketserver\.py"),
)

# The worker's entry point, left out of the project functions because every stack has it.
_ENTRY_POINT = "streams/cli.py"

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
_LINE_NUMBER = re.compile(r":\d+$")


@dataclass(frozen=True)
class ProfileSummary:
    """Sample counts of one profile; every count except `samples` and `other_threads` is of the main thread."""

    samples: int
    main_thread_samples: int
    other_threads: dict[str, int]
    top_self: list[tuple[str, int]]
    top_project_inclusive: list[tuple[str, int]]
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


def _thread_name(frames: list[tuple[str, str]]) -> str:
    for name, pattern in _THREAD_NAMES:
        if any(re.search(pattern, file_name) for _, file_name in frames):
            return name
    function, file_name = frames[min(3, len(frames) - 1)]
    return f"thread running {function} ({_LINE_NUMBER.sub('', file_name)})"


def summarize(path: Path, top: int = 15) -> ProfileSummary:
    """Read a `py-spy record --format raw` file and count samples per thread, leaf function and component."""
    self_counts: Counter[str] = Counter()
    project_inclusive: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_components: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    main_total = 0

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_split_frame(frame) for frame in stack.split(";")]

        if stack.startswith(_THREAD_ROOT):
            threads[_thread_name(frames)] += count
            continue
        main_total += count

        function, file_name = frames[-1]
        self_counts[f"{function} ({file_name})"] += count
        self_components[_component(file_name) or "other"] += count

        seen = {_component(name) for _, name in frames} - {None}
        for component in seen:
            inclusive[component] += count  # type: ignore[index]

        project_functions = {
            f"{name} ({_LINE_NUMBER.sub('', file_name)})"
            for name, file_name in frames
            if file_name.startswith("streams/") and not file_name.startswith(_ENTRY_POINT)
        }
        for name in project_functions:
            project_inclusive[name] += count

    return ProfileSummary(
        samples=total,
        main_thread_samples=main_total,
        other_threads=dict(threads.most_common()),
        top_self=self_counts.most_common(top),
        top_project_inclusive=project_inclusive.most_common(top),
        inclusive_by_component=dict(inclusive.most_common()),
        self_by_component=dict(self_components.most_common()),
    )

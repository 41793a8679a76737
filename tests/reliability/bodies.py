"""Deterministic generator of bad Pulse bodies, each with the dead-letter reason it must get."""

from __future__ import annotations

import copy
import functools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from streams.samples import messages_path

JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"
HG_V1_EXCHANGE = "exchange/hgpushes/v1"
HG_V2_EXCHANGE = "exchange/hgpushes/v2"
RELEASE_EXCHANGE = "exchange/taskcluster-github/v1/release"

# Body size limit the worker gets in these tests (MAX_MESSAGE_BYTES); every valid sample is smaller.
MAX_MESSAGE_BYTES = 16384


@dataclass(frozen=True)
class Message:
    """One message to send: where it goes, its bytes, and the dead-letter reason it must get (None: valid)."""

    exchange: str
    routing_key: str
    body: bytes
    reason: str | None
    kind: str


def sample_entries() -> list[dict[str, Any]]:
    """Return a fresh copy of the bundled sample messages as parsed JSON lines."""
    return copy.deepcopy(_read_samples())


@functools.cache
def _read_samples() -> list[dict[str, Any]]:
    return [json.loads(line) for line in messages_path().read_text(encoding="utf-8").splitlines() if line.strip()]


def valid_messages() -> list[Message]:
    """Return the sample jobs and pushes that must be accepted (lines 1-104 of the samples)."""
    messages = []
    for entry in sample_entries()[:104]:
        body = json.dumps(entry["body"]).encode("utf-8")
        messages.append(Message(entry["exchange"], entry["routing_key"], body, None, "valid"))
    return messages


def _job_template() -> dict[str, Any]:
    return next(entry["body"] for entry in sample_entries() if entry["exchange"] == JOB_EXCHANGE)


def _hg_template() -> dict[str, Any]:
    return next(entry["body"] for entry in sample_entries() if entry["exchange"] == HG_V1_EXCHANGE)


def _job(body: Any, reason: str, kind: str) -> Message:
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return Message(JOB_EXCHANGE, "primary.bad.0.autoland", data, reason, kind)


def _push(exchange: str, body: Any, reason: str, kind: str) -> Message:
    return Message(exchange, "try", json.dumps(body).encode("utf-8"), reason, kind)


def _not_json(rng: random.Random) -> Message:
    text = "".join(rng.choice("{}[]:,\"abc 123") for _ in range(rng.randint(1, 200)))
    # A leading "<" can never start a JSON value.
    return _job(("<" + text).encode("utf-8"), "not-json", "not-json")


def _invalid_utf8(rng: random.Random) -> Message:
    # 0xFF and 0xFE never occur in UTF-8, and 0x80 cannot start a character.
    body = b'{"taskId": "' + bytes([rng.choice((0xFF, 0xFE, 0x80))]) + rng.randbytes(rng.randint(0, 50)) + b'"}'
    return _job(body, "invalid-utf8", "invalid-utf8")


def _wrong_type(rng: random.Random) -> Message:
    body = _job_template()
    field = rng.choice(("state", "display", "origin", "taskId", "buildMachine"))
    body[field] = rng.choice((5, 1.5, True, None, [1, 2]))
    return _job(body, "schema", "wrong-type")


def _missing_field(rng: random.Random) -> Message:
    body = _job_template()
    del body[rng.choice(("taskId", "display", "origin", "state", "jobKind"))]
    return _job(body, "schema", "missing-field")


def _too_large(rng: random.Random) -> Message:
    body = _job_template()
    body["display"]["jobName"] = "x" * rng.randint(MAX_MESSAGE_BYTES, 4 * MAX_MESSAGE_BYTES)
    return _job(body, "too-large", "huge-string")


def _deep_nesting(rng: random.Random) -> Message:
    depth = rng.randint(2000, 3500)
    return _job(b"[" * depth + b"]" * depth, "not-json", "deep-nesting")


def _unknown_repository(rng: random.Random) -> Message:
    body = _job_template()
    body["origin"]["project"] = f"no-such-repository-{rng.randrange(10**6)}"
    return _job(body, "unknown-repository", "unknown-repository")


def _short_revision(rng: random.Random) -> Message:
    body = _job_template()
    body["origin"]["revision"] = "".join(rng.choice("0123456789abcdef") for _ in range(rng.randint(1, 39)))
    return _job(body, "schema", "short-revision")


def _uppercase_revision(rng: random.Random) -> Message:
    body = _job_template()
    body["origin"]["revision"] = "".join(rng.choice("0123456789ABCDEF") for _ in range(40))
    return _job(body, "schema", "uppercase-revision")


def _unsupported_exchange(rng: random.Random) -> Message:
    return _push(RELEASE_EXCHANGE, {"release": {"id": rng.randrange(10**6)}}, "unsupported-exchange", "unsupported-exchange")


def _unhandled_hg_type(rng: random.Random) -> Message:
    message_type = rng.choice(("newrepo.1", "obsolete.1", "changegroup.2"))
    return _push(HG_V2_EXCHANGE, {"payload": {"type": message_type, "data": {}}}, "unsupported-message-type", "hg-v2-type")


def _unknown_hg_repository(rng: random.Random) -> Message:
    body = copy.deepcopy(_hg_template())
    body["payload"]["repo_url"] = f"https://hg.mozilla.org/no-such-repository-{rng.randrange(10**6)}"
    return _push(HG_V1_EXCHANGE, body, "unknown-repository", "unknown-hg-repository")


GENERATORS: tuple[Callable[[random.Random], Message], ...] = (
    _not_json,
    _invalid_utf8,
    _wrong_type,
    _missing_field,
    _too_large,
    _deep_nesting,
    _unknown_repository,
    _short_revision,
    _uppercase_revision,
    _unsupported_exchange,
    _unhandled_hg_type,
    _unknown_hg_repository,
)


def bad_messages(count: int, seed: int) -> Iterator[Message]:
    """Yield ``count`` bad messages, cycling through every generator so each kind is represented."""
    rng = random.Random(seed)
    for number in range(count):
        yield GENERATORS[number % len(GENERATORS)](rng)


def interleave(bad: list[Message], valid: list[Message]) -> list[Message]:
    """Spread ``valid`` evenly through ``bad``, keeping the order of both lists."""
    if not valid:
        return list(bad)
    step = max(1, len(bad) // len(valid))
    merged: list[Message] = []
    remaining = iter(valid)
    for number, message in enumerate(bad):
        if number % step == 0:
            following = next(remaining, None)
            if following is not None:
                merged.append(following)
        merged.append(message)
    merged.extend(remaining)
    return merged

"""Synthetic hg pushes and pulse jobs built from the Treeherder sample data, with unique ids."""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_SAMPLES = REPO_ROOT / "tests" / "data" / "treeherder" / "job_data.json"

JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"
PUSH_EXCHANGE = "exchange/hgpushes/v1"
PUSH_ROUTING_KEY = "integration/autoland"
REPOSITORY = "autoland"
REPOSITORY_URL = "https://hg.mozilla.org/integration/autoland"
ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"


@dataclass(frozen=True)
class RawRecord:
    """A record as the bridge writes it to a raw topic: key, body bytes and text headers."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def bridge_headers(exchange: str, routing_key: str) -> tuple[tuple[str, bytes], ...]:
    """Return the headers the bridge sets on a record, with the current time as receive time."""
    received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    pairs = (
        ("pulse.exchange", exchange),
        ("pulse.routing_key", routing_key),
        ("pulse.root_url", ROOT_URL),
        ("amqp.redelivered", "false"),
        ("amqp.content_type", "application/json"),
        ("bridge.received_at", received_at),
    )
    return tuple((name, value.encode("utf-8")) for name, value in pairs)


def new_revisions(count: int) -> list[str]:
    """Return ``count`` random 40-hex revisions."""
    return [secrets.token_hex(20) for _ in range(count)]


def hg_push_body(revision: str, push_id: int) -> dict[str, Any]:
    """Return an `exchange/hgpushes/v1` body of one autoland push whose head is ``revision``."""
    return {
        "payload": {
            "_meta": {
                "exchange": PUSH_EXCHANGE,
                "routing_key": PUSH_ROUTING_KEY,
                "sent": "2025-02-28T18:27:42.000000",
                "serializer": "json",
            },
            "heads": [revision],
            "pushlog_pushes": [
                {
                    "push_full_json_url": f"{REPOSITORY_URL}/json-pushes?version=2&startID={push_id - 1}&endID={push_id}&full=1",
                    "push_json_url": f"{REPOSITORY_URL}/json-pushes?version=2&startID={push_id - 1}&endID={push_id}",
                    "pushid": push_id,
                    "time": 1740767261,
                    "user": "bench@example.com",
                }
            ],
            "repo_url": REPOSITORY_URL,
        }
    }


def push_records(revisions: list[str]) -> list[RawRecord]:
    """Return raw push records keyed by repository path, as the bridge would write them."""
    records = []
    for number, revision in enumerate(revisions, start=1):
        body = json.dumps(hg_push_body(revision, number)).encode("utf-8")
        headers = bridge_headers(PUSH_EXCHANGE, PUSH_ROUTING_KEY)
        records.append(RawRecord(PUSH_ROUTING_KEY.encode("utf-8"), body, headers))
    return records


def job_bodies(count: int, revisions: list[str]) -> list[dict[str, Any]]:
    """Return ``count`` completed pulse jobs copied from job_data.json, each with a new task id.

    Job i belongs to push ``revisions[i % len(revisions)]`` of autoland.
    """
    samples = json.loads(JOB_SAMPLES.read_text(encoding="utf-8"))
    jobs = []
    for index in range(count):
        job = copy.deepcopy(samples[index % len(samples)])
        job["taskId"] = f"{uuid.uuid4()}/0"
        job["origin"] = {"project": REPOSITORY, "revision": revisions[index % len(revisions)]}
        jobs.append(job)
    return jobs


def job_guid(body: dict[str, Any]) -> str:
    """Return the Treeherder job guid of a pulse job, which is its `<task id>/<run id>`."""
    return str(body["taskId"])


def job_routing_key(run_word: str, index: int) -> str:
    """Return a routing key that only the bench's own bridge binding matches."""
    return f"{run_word}.{index}"


def job_records(bodies: list[dict[str, Any]], run_word: str) -> list[RawRecord]:
    """Return raw job records keyed by `<repository>/<revision>`, as the bridge writes them."""
    records = []
    for index, body in enumerate(bodies):
        origin = body["origin"]
        key = f"{origin['project']}/{origin['revision']}"
        headers = bridge_headers(JOB_EXCHANGE, job_routing_key(run_word, index))
        records.append(RawRecord(key.encode("utf-8"), json.dumps(body).encode("utf-8"), headers))
    return records

"""Regenerate the bundled sample messages from the Treeherder sample data in tests/data/treeherder.

Run from a checkout: `.venv/bin/python -m streams.samples.build`. It rewrites
`pulse-messages.jsonl` (one `{exchange, routing_key, body | body_base64}` per line, in
publishing order) and `expected-outcomes.jsonl` (the outcome of each of those lines).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.samples import (
    ACCEPTED_JOB,
    ACCEPTED_PUSH,
    DEAD_LETTER,
    DROPPED_BY_STATE,
    EXPECTED_FILE,
    MESSAGES_FILE,
    PARKED,
    samples_dir,
)

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "treeherder"

HG_PUSH_EXCHANGE = "exchange/hgpushes/v1"
GITHUB_PUSH_EXCHANGE = "exchange/taskcluster-github/v1/push"
GITHUB_PULL_REQUEST_EXCHANGE = "exchange/taskcluster-github/v1/pull-request"
PULSE_JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"

# Repository of the sample jobs; `origin.project` in job_data.json is a placeholder.
JOB_REPOSITORY = "autoland"
JOB_REPOSITORY_URL = "https://hg.mozilla.org/integration/autoland"
JOB_ROUTING_KEY = "integration/autoland"

# Jobs whose pending event is published before their push, so the join may have to park them.
EARLY_JOBS = 10

# Jobs whose completed event is delivered twice, and jobs whose pending event is delivered
# again after completion. The job-state rule drops both kinds of repeat.
REPEATED_COMPLETED = range(0, 5)
STALE_PENDING = range(5, 8)

# Registry repository that each sample GitHub push resolves to (servo's `try` branch is servo-try).
GITHUB_PUSH_REPOSITORIES = {
    "primary.mozilla-mobile.android-components": "android-components",
    "primary.servo.servo": "servo-try",
}

# Task id of the job whose push never arrives; it stays parked for PARKED_JOB_WINDOW.
ORPHAN_TASK_ID = "0a1b2c3d-0000-4000-8000-00000000a001/0"


class SampleWriter:
    """Collects sample lines with their expected outcomes, numbered from 1."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []

    def add(
        self,
        exchange: str,
        routing_key: str,
        outcome: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> None:
        """Append one message; ``raw`` bytes replace the JSON ``body``."""
        entry: dict[str, Any] = {"exchange": exchange, "routing_key": routing_key}
        if raw is not None:
            entry["body_base64"] = base64.b64encode(raw).decode("ascii")
        else:
            entry["body"] = body
        self.messages.append(entry)

        expected: dict[str, Any] = {"line": len(self.messages), "outcome": outcome}
        if reason is not None:
            expected["reason"] = reason
        if key is not None:
            expected["key"] = key
        self.outcomes.append(expected)

    def write(self, folder: Path) -> None:
        """Write both JSON-lines files into ``folder``."""
        _write_lines(folder / MESSAGES_FILE, self.messages)
        _write_lines(folder / EXPECTED_FILE, self.outcomes)


def load(name: str) -> Any:
    """Read one file of the Treeherder sample data."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def job_events(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Derive the pending and running events of a completed pulse job, keyed by state."""
    completed = copy.deepcopy(message)
    completed["origin"]["project"] = JOB_REPOSITORY

    running = copy.deepcopy(completed)
    running["state"] = "running"
    for field in ("result", "timeCompleted", "logs", "jobInfo"):
        running.pop(field, None)

    pending = copy.deepcopy(running)
    pending["state"] = "pending"
    pending.pop("timeStarted", None)

    return {"pending": pending, "running": running, "completed": completed}


def synthetic_hg_push(push: dict[str, Any]) -> dict[str, Any]:
    """Build an `exchange/hgpushes/v1` body for one entry of push_data.json."""
    push_id = int(push["id"])
    json_pushes = f"{JOB_REPOSITORY_URL}/json-pushes?version=2&startID={push_id - 1}&endID={push_id}"
    return {
        "payload": {
            "repo_url": JOB_REPOSITORY_URL,
            "heads": [push["revision"]],
            "pushlog_pushes": [
                {
                    "pushid": push_id,
                    "time": int(push["push_timestamp"]),
                    "user": push["author"],
                    "push_json_url": json_pushes,
                    "push_full_json_url": json_pushes + "&full=1",
                }
            ],
            "_meta": {
                "exchange": HG_PUSH_EXCHANGE,
                "routing_key": JOB_ROUTING_KEY,
                "serializer": "json",
                "sent": "2025-02-28T18:27:42.000000",
            },
        }
    }


def build() -> SampleWriter:
    """Assemble every sample line in publishing order."""
    writer = SampleWriter()
    jobs = [job_events(message) for message in load("job_data.json")]
    pushes = load("push_data.json")
    job_push = pushes[0]
    job_push_key = f"{JOB_REPOSITORY}/{job_push['revision']}"

    def add_job(index: int, state: str, outcome: str = ACCEPTED_JOB) -> None:
        event = jobs[index][state]
        writer.add(PULSE_JOB_EXCHANGE, _job_routing_key(event), outcome, body=event, key=event["taskId"])

    # Some jobs are announced before their push exists.
    for index in range(EARLY_JOBS):
        add_job(index, "pending")

    writer.add(
        HG_PUSH_EXCHANGE, JOB_ROUTING_KEY, ACCEPTED_PUSH, body=synthetic_hg_push(job_push), key=job_push_key
    )

    for index in range(EARLY_JOBS, len(jobs)):
        add_job(index, "pending")
    for index in range(len(jobs)):
        add_job(index, "running")
    for index in range(len(jobs)):
        add_job(index, "completed")

    # Redeliveries and late events that the job-state rule drops.
    for index in REPEATED_COMPLETED:
        add_job(index, "completed", DROPPED_BY_STATE)
    for index in STALE_PENDING:
        add_job(index, "pending", DROPPED_BY_STATE)

    hg_push = load("hg_push.json")
    try_key = f"try/{hg_push['payload']['heads'][-1]}"
    writer.add(HG_PUSH_EXCHANGE, "try", ACCEPTED_PUSH, body=hg_push, key=try_key)

    for delivery in load("github_push.json"):
        payload = delivery["payload"]
        repository = GITHUB_PUSH_REPOSITORIES[delivery["routingKey"]]
        writer.add(
            GITHUB_PUSH_EXCHANGE,
            delivery["routingKey"],
            ACCEPTED_PUSH,
            body=payload,
            key=f"{repository}/{payload['details']['event.head.sha']}",
        )

    pull_request = load("github_pr.json")
    writer.add(
        GITHUB_PULL_REQUEST_EXCHANGE,
        "primary.mozilla.test_treeherder.synchronize",
        ACCEPTED_PUSH,
        body=pull_request,
        key=f"test_treeherder/{pull_request['details']['event.head.sha']}",
    )

    # A second delivery of the same hg push is accepted again and stored once.
    writer.add(HG_PUSH_EXCHANGE, "try", ACCEPTED_PUSH, body=hg_push, key=try_key)

    # A job of a push that never arrives waits in the parked-job table.
    orphan = copy.deepcopy(jobs[0]["completed"])
    orphan["taskId"] = ORPHAN_TASK_ID
    orphan["origin"]["revision"] = pushes[1]["revision"]
    writer.add(PULSE_JOB_EXCHANGE, _job_routing_key(orphan), PARKED, body=orphan, key=ORPHAN_TASK_ID)

    _add_bad_messages(writer, jobs[0]["completed"], hg_push)
    return writer


def _add_bad_messages(writer: SampleWriter, job: dict[str, Any], hg_push: dict[str, Any]) -> None:
    """Append messages that the worker rejects, one or two per dead-letter reason."""
    writer.add(PULSE_JOB_EXCHANGE, "primary.not-json", DEAD_LETTER, raw=b"{not json", reason="not-json")
    writer.add(HG_PUSH_EXCHANGE, "try", DEAD_LETTER, raw=b"<html>502 Bad Gateway</html>", reason="not-json")

    unknown_job = copy.deepcopy(job)
    unknown_job["taskId"] = "0a1b2c3d-0000-4000-8000-00000000a002/0"
    unknown_job["origin"]["project"] = "no-such-repository"
    writer.add(
        PULSE_JOB_EXCHANGE, _job_routing_key(unknown_job), DEAD_LETTER, body=unknown_job, reason="unknown-repository"
    )

    unknown_push = copy.deepcopy(hg_push)
    unknown_push["payload"]["repo_url"] = "https://hg.mozilla.org/projects/no-such-repository"
    writer.add(HG_PUSH_EXCHANGE, "projects/no-such-repository", DEAD_LETTER, body=unknown_push, reason="unknown-repository")

    invalid_job = copy.deepcopy(job)
    invalid_job["taskId"] = "0a1b2c3d-0000-4000-8000-00000000a003/0"
    del invalid_job["display"]
    writer.add(PULSE_JOB_EXCHANGE, _job_routing_key(invalid_job), DEAD_LETTER, body=invalid_job, reason="schema")


def _job_routing_key(event: dict[str, Any]) -> str:
    """Return a Taskcluster-style routing key that names the job's task."""
    task, _, run = event["taskId"].partition("/")
    return f"primary.{task}.{run or 0}.{event['origin']['project']}"


def _write_lines(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as output:
        for entry in entries:
            output.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    logger.info("Wrote %d lines to %s", len(entries), path)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the sample files into the package folder or ``--output``."""
    parser = argparse.ArgumentParser(prog="python -m streams.samples.build", description=__doc__)
    parser.add_argument("--output", type=Path, default=samples_dir(), help="folder to write to (default: the package)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if not DATA_DIR.is_dir():
        print(f"build: sample data folder {DATA_DIR} not found; run this from a checkout", file=sys.stderr)
        return 2

    build().write(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

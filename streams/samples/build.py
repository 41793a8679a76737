"""Regenerate the bundled sample messages from the Treeherder sample data in tests/data/treeherder.

Run from a checkout: `.venv/bin/python -m streams.samples.build`. It rewrites
`pulse-messages.jsonl` (one `{exchange, routing_key, body | body_base64}` per line, in
publishing order), `expected-outcomes.jsonl` (the outcome of each of those lines) and the
upstream responses in `lookups/` that the main job's fixture server serves.
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
    LOOKUPS_DIR,
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
# again after completion. Neither kind of repeat changes a stored row: the join drops it
# within a batch, and the database ignores it in a later one.
REPEATED_COMPLETED = range(0, 5)
STALE_PENDING = range(5, 8)

# Registry repository that each sample GitHub push resolves to (servo's `try` branch is servo-try).
GITHUB_PUSH_REPOSITORIES = {
    "primary.mozilla-mobile.android-components": "android-components",
    "primary.servo.servo": "servo-try",
}

# Task id of the job whose push never arrives; it stays parked for PARKED_JOB_WINDOW.
ORPHAN_TASK_ID = "0a1b2c3d-0000-4000-8000-00000000a001/0"

# Lookup response files, named as streams.lookups.fixture_server.FixtureData.load reads them.
JSON_PUSHES_FILE = "hg_push_commits.json"
GITHUB_COMPARE_FILE = "github_push_compare.json"
PULL_REQUEST_FILE = "github_pr.json"
PULL_REQUEST_COMMITS_FILE = "github_pr_commits.json"


class SampleWriter:
    """Collects sample lines with their expected outcomes, numbered from 1."""

    def __init__(self, lookups: dict[str, Any]) -> None:
        self.messages: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        # Lookup responses by file name, written to the `lookups/` folder.
        self.lookups = lookups

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
        enriched_key: str | None = None,
    ) -> None:
        """Append one message; ``raw`` bytes replace the JSON ``body``.

        ``enriched_key`` is the push key of the enriched record that the line's commit lookup
        yields, for a push line whose lookup response is bundled.
        """
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
        if enriched_key is not None:
            expected["enriched_key"] = enriched_key
        self.outcomes.append(expected)

    def write(self, folder: Path) -> None:
        """Write both JSON-lines files and the lookup responses into ``folder``."""
        _write_lines(folder / MESSAGES_FILE, self.messages)
        _write_lines(folder / EXPECTED_FILE, self.outcomes)

        lookups = folder / LOOKUPS_DIR
        lookups.mkdir(exist_ok=True)
        for name, content in sorted(self.lookups.items()):
            _write_json(lookups / name, content)


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


def synthetic_json_push(push: dict[str, Any]) -> dict[str, Any]:
    """Build the json-pushes (version 2, full) entry of one push of push_data.json.

    push_data.json lists a push's revisions newest first, as Treeherder's API returns them,
    and json-pushes lists changesets oldest first, so the head becomes the last changeset.
    """
    changesets: list[dict[str, Any]] = []
    for revision in reversed(push["revisions"]):
        parents = [changesets[-1]["node"]] if changesets else []
        changesets.append(
            {
                "author": revision["author"],
                "branch": "default",
                "desc": revision["comment"],
                "node": revision["revision"],
                "parents": parents,
                "tags": [],
            }
        )

    if not changesets or changesets[-1]["node"] != push["revision"]:
        raise ValueError(f"push {push['id']} of push_data.json does not list its head {push['revision']} first")
    return {"changesets": changesets, "date": int(push["push_timestamp"]), "user": push["author"]}


def build_lookups(job_push: dict[str, Any]) -> dict[str, Any]:
    """Collect the lookup responses that enrich every sample push, keyed by file name.

    json-pushes gets the hg push of hg_push_commits.json and the synthetic autoland push of
    ``job_push``. The fixture server serves these pushes for every repository path, which is
    safe because their push ids differ.
    """
    hg_response = load("hg_push_commits.json")
    json_pushes = dict(hg_response["pushes"])
    json_pushes[str(job_push["id"])] = synthetic_json_push(job_push)

    return {
        JSON_PUSHES_FILE: {
            "lastpushid": max(int(push_id) for push_id in json_pushes),
            "pushes": json_pushes,
        },
        GITHUB_COMPARE_FILE: load("github_push_compare.json"),
        PULL_REQUEST_FILE: load("github_pr.json"),
        PULL_REQUEST_COMMITS_FILE: load("github_pr_commits.json"),
    }


def build() -> SampleWriter:
    """Assemble every sample line in publishing order, with the lookup responses."""
    jobs = [job_events(message) for message in load("job_data.json")]
    pushes = load("push_data.json")
    job_push = pushes[0]
    job_push_key = f"{JOB_REPOSITORY}/{job_push['revision']}"
    writer = SampleWriter(build_lookups(job_push))
    lookups = writer.lookups

    def add_job(index: int, state: str, outcome: str = ACCEPTED_JOB) -> None:
        event = jobs[index][state]
        writer.add(PULSE_JOB_EXCHANGE, _job_routing_key(event), outcome, body=event, key=event["taskId"])

    # Some jobs are announced before their push exists.
    for index in range(EARLY_JOBS):
        add_job(index, "pending")

    writer.add(
        HG_PUSH_EXCHANGE,
        JOB_ROUTING_KEY,
        ACCEPTED_PUSH,
        body=synthetic_hg_push(job_push),
        key=job_push_key,
        enriched_key=f"{JOB_REPOSITORY}/{_json_pushes_head(lookups, job_push['id'])}",
    )

    for index in range(EARLY_JOBS, len(jobs)):
        add_job(index, "pending")
    for index in range(len(jobs)):
        add_job(index, "running")
    for index in range(len(jobs)):
        add_job(index, "completed")

    # Redeliveries and late events that change no stored row.
    for index in REPEATED_COMPLETED:
        add_job(index, "completed", DROPPED_BY_STATE)
    for index in STALE_PENDING:
        add_job(index, "pending", DROPPED_BY_STATE)

    hg_push = load("hg_push.json")
    try_key = f"try/{hg_push['payload']['heads'][-1]}"
    try_pushlog = hg_push["payload"]["pushlog_pushes"][0]
    try_enriched_key = f"try/{_json_pushes_head(lookups, try_pushlog['pushid'])}"
    writer.add(HG_PUSH_EXCHANGE, "try", ACCEPTED_PUSH, body=hg_push, key=try_key, enriched_key=try_enriched_key)

    for delivery in load("github_push.json"):
        payload = delivery["payload"]
        repository = GITHUB_PUSH_REPOSITORIES[delivery["routingKey"]]
        writer.add(
            GITHUB_PUSH_EXCHANGE,
            delivery["routingKey"],
            ACCEPTED_PUSH,
            body=payload,
            key=f"{repository}/{payload['details']['event.head.sha']}",
            enriched_key=f"{repository}/{_compare_head(lookups, payload)}",
        )

    pull_request = load("github_pr.json")
    writer.add(
        GITHUB_PULL_REQUEST_EXCHANGE,
        "primary.mozilla.test_treeherder.synchronize",
        ACCEPTED_PUSH,
        body=pull_request,
        key=f"test_treeherder/{pull_request['details']['event.head.sha']}",
        # The sample message names the pull request's first commit as its head, so the
        # enriched record, whose head is the last commit, has a key of its own.
        enriched_key=f"test_treeherder/{lookups[PULL_REQUEST_COMMITS_FILE][-1]['sha']}",
    )

    # A second delivery of the same hg push is accepted and enriched again, and stored once.
    writer.add(HG_PUSH_EXCHANGE, "try", ACCEPTED_PUSH, body=hg_push, key=try_key, enriched_key=try_enriched_key)

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


def _json_pushes_head(lookups: dict[str, Any], push_id: int | str) -> str:
    """Return the head revision (last changeset) of one push in the bundled json-pushes."""
    return str(lookups[JSON_PUSHES_FILE]["pushes"][str(push_id)]["changesets"][-1]["node"])


def _compare_head(lookups: dict[str, Any], payload: dict[str, Any]) -> str:
    """Return the head revision (last commit) of the bundled GitHub compare of one push."""
    details = payload["details"]
    suffix = f"/repos/{payload['organization']}/{payload['repository']}/compare/{details['event.base.sha']}...{details['event.head.sha']}"
    for compare in lookups[GITHUB_COMPARE_FILE]:
        if compare["url"].endswith(suffix):
            return str(compare["commits"][-1]["sha"])
    raise ValueError(f"github_push_compare.json has no compare ending in {suffix}")


def _job_routing_key(event: dict[str, Any]) -> str:
    """Return a Taskcluster-style routing key that names the job's task."""
    task, _, run = event["taskId"].partition("/")
    return f"primary.{task}.{run or 0}.{event['origin']['project']}"


def _write_lines(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as output:
        for entry in entries:
            output.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    logger.info("Wrote %d lines to %s", len(entries), path)


def _write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("Wrote %s", path)


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

"""Transform of a Taskcluster task event and its task definition into a pulse job."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.errors import RejectedMessage, RejectReason
from streams.transforms.taskcluster_ids import uuid_from_slug
from streams.validation.detail import make_detail
from streams.validation.validator import get_validator

logger = logging.getLogger(__name__)

TASK_EXCHANGE_PREFIX = "exchange/taskcluster-queue/v1/"

EVENT_STATES: dict[str, str] = {
    "task-defined": "unscheduled",
    "task-pending": "pending",
    "task-running": "running",
    "task-completed": "completed",
    "task-failed": "failed",
    "task-exception": "exception",
}
"""Task exchange name (after the prefix) to the event it reports."""

ROUTE_PREFIX = "tc-treeherder"
"""First dot-separated word of the route that makes a task a Treeherder job."""

MAX_JOB_NAME_CHARS = 139
"""Job names are cut to this many characters, as Treeherder does."""

CONFIG_SCHEMA = "task-treeherder-config"

ARTIFACT_LINK_LABEL = "artifact uploaded"

LIVE_BACKING_LOG = "live_backing_log"
"""Name of the log reference that Treeherder's log viewer parses."""

_RETRY_REASONS = ("retry", "task-retry")
_RESULT_REASONS = ("canceled", "superseded")
_EVENTS_WITH_ARTIFACTS = ("completed", "failed", "exception")


@dataclass(frozen=True)
class TreeherderRoute:
    """Parsed ``tc-treeherder.<version>.<project>.<revision>[.<id>]`` route."""

    project: str
    revision: str
    push_id: int


def task_event(exchange: str) -> str:
    """Map a task exchange to its event (``pending``, ``exception``, ...).

    Raises RejectedMessage(UNSUPPORTED_EXCHANGE) for any other exchange.
    """
    name = exchange.removeprefix(TASK_EXCHANGE_PREFIX)
    event = EVENT_STATES.get(name) if name != exchange else None
    if event is None:
        raise RejectedMessage(
            RejectReason.UNSUPPORTED_EXCHANGE,
            f"exchange {exchange!r} is not a Taskcluster task exchange; expected "
            f"{TASK_EXCHANGE_PREFIX}<{'|'.join(EVENT_STATES)}>",
            detail={"exchange": exchange},
        )
    return event


def task_id_of(message: Any) -> str:
    """Return ``status.taskId`` of a task event, or raise RejectedMessage(SCHEMA) without one."""
    status = message.get("status") if isinstance(message, Mapping) else None
    task_id = status.get("taskId") if isinstance(status, Mapping) else None
    if not isinstance(task_id, str) or not task_id:
        raise _schema_error(["status", "taskId"], "required", task_id, "task event has no taskId")
    return task_id


def parse_treeherder_route(routes: Any, task_id: str) -> TreeherderRoute:
    """Find and parse the task's single ``tc-treeherder`` route.

    Raises RejectedMessage(NOT_FOR_TREEHERDER) unless exactly one route starts with the
    word ``tc-treeherder``, and SCHEMA when that route is malformed. A GitHub project
    ``owner/repo`` becomes ``repo``, and a route without an id gets id 0.
    """
    listed = routes if isinstance(routes, list) else []
    matching = [
        route for route in listed if isinstance(route, str) and route.split(".")[0] == ROUTE_PREFIX
    ]
    if len(matching) != 1:
        raise RejectedMessage(
            RejectReason.NOT_FOR_TREEHERDER,
            f"task {task_id} has {len(matching)} {ROUTE_PREFIX} routes; a job needs exactly one",
            detail={"taskId": task_id, "routes": [str(route)[:200] for route in listed[:20]]},
        )

    route = matching[0]
    parts = route.split(".")
    if len(parts) not in (4, 5):
        expected = f"{ROUTE_PREFIX}.<version>.<project>.<revision>[.<id>]"
        raise _schema_error(
            ["routes"], "route", route, f"expected {expected}, got {len(parts)} words"
        )

    project = parts[2]
    owner_and_repo = project.split("/")
    if len(owner_and_repo) == 2:
        project = owner_and_repo[1]

    raw_id = parts[4] if len(parts) == 5 else ""
    if raw_id and not raw_id.isdigit():
        raise _schema_error(["routes"], "route", route, f"route id {raw_id!r} is not a number")

    return TreeherderRoute(project=project, revision=parts[3], push_id=int(raw_id) if raw_id else 0)


def accept_task(
    task_id: str, task_definition: Any, projects_to_ingest: frozenset[str] | None
) -> TreeherderRoute:
    """Check that a task definition describes a Treeherder job worth ingesting.

    Checks, in Treeherder's order: the route, the PROJECTS_TO_INGEST filter (None or empty
    means every project), then ``extra.treeherder``. Raises RejectedMessage with
    NOT_FOR_TREEHERDER, IGNORED_PROJECT or SCHEMA.
    """
    if not isinstance(task_definition, Mapping):
        kind = type(task_definition).__name__
        raise _schema_error([], "type", kind, "task definition is not an object")

    route = parse_treeherder_route(task_definition.get("routes"), task_id)

    if projects_to_ingest and route.project not in projects_to_ingest:
        raise RejectedMessage(
            RejectReason.IGNORED_PROJECT,
            f"project {route.project!r} of task {task_id} is not in PROJECTS_TO_INGEST",
            detail={"taskId": task_id, "project": route.project},
        )

    # NOTE: Treeherder also drops reference-browser and mozilla-vpn-client tasks that do not
    # run for the main branch. That filter needs the decision task, so it is not done here.

    extra = task_definition.get("extra")
    config = extra.get("treeherder") if isinstance(extra, Mapping) else None
    if not config:
        raise RejectedMessage(
            RejectReason.NOT_FOR_TREEHERDER,
            f"task {task_id} has no extra.treeherder settings",
            detail={"taskId": task_id},
        )
    get_validator(CONFIG_SCHEMA).validate(config)

    return route


def needs_artifacts(exchange: str, message: Mapping[str, Any]) -> bool:
    """Tell whether the job built from this event lists the run's artifacts."""
    return task_event(exchange) in _EVENTS_WITH_ARTIFACTS and isinstance(message.get("runId"), int)


def transform_task_event(
    exchange: str,
    message: dict[str, Any],
    task_definition: dict[str, Any],
    root_url: str,
    artifacts: list[dict[str, Any]] | None,
    projects_to_ingest: frozenset[str] | None,
) -> dict[str, Any] | None:
    """Build the pulse job of a task event, following Treeherder's task handler.

    ``message`` is the event body, ``task_definition`` the queue's task definition and
    ``artifacts`` every artifact of the run (None when not listed, which gives no links).
    Returns None for an exception run that was itself created by an exception (a deadline
    passed); the caller drops such an event without a job. Raises RejectedMessage with
    UNSUPPORTED_EXCHANGE, NOT_FOR_TREEHERDER, IGNORED_PROJECT or SCHEMA. Inputs are not
    modified.
    """
    event = task_event(exchange)
    task_id = task_id_of(message)
    route = accept_task(task_id, task_definition, projects_to_ingest)
    root = root_url.rstrip("/")

    if event == "unscheduled":
        # A defined task has no run yet. Run 0 is used so the GUID matches the later run 0.
        job = _build_job(route, task_definition, task_id, 0, {})
        job["state"] = "unscheduled"
        job["result"] = "unknown"
        return job

    run_id, run = _current_run(message, task_id, event)

    if event == "exception" and run.get("reasonCreated") == "exception":
        logger.debug("task %s run %d was created by an exception; no job", task_id, run_id)
        return None

    job = _build_job(route, task_definition, task_id, run_id, run)

    if event == "running":
        job["timeStarted"] = _run_time(run, "started", run_id)

    if event in ("completed", "failed"):
        job["timeStarted"] = _run_time(run, "started", run_id)
        job["timeCompleted"] = _run_time(run, "resolved", run_id)
        log_url = _artifact_url(root, task_id, run_id, "public/logs/live_backing.log")
        job["logs"] = [{"name": LIVE_BACKING_LOG, "url": log_url}]

    if event == "exception":
        job["isRetried"] = _is_retried(message["status"]["runs"], run_id)
        if run.get("started"):
            job["timeStarted"] = _run_time(run, "started", run_id)
        job["timeCompleted"] = _run_time(run, "resolved", run_id)
        # Exception runs rarely upload a log, so none is linked.
        job["logs"] = []

    if event in _EVENTS_WITH_ARTIFACTS and artifacts is not None:
        job["jobInfo"]["links"] = artifact_links(root, task_id, run_id, artifacts)

    return job


def artifact_links(
    root_url: str, task_id: str, run_id: int, artifacts: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Build one "artifact uploaded" link per artifact, named by its basename.

    Directories (names ending in ``/``) are skipped, and the n-th repeat of a basename is
    shown as ``<basename> (n)``.
    """
    seen: dict[str, int] = {}
    links: list[dict[str, str]] = []

    for artifact in artifacts:
        full_name = str(artifact["name"])
        text = posixpath.basename(full_name)
        if not text:
            continue

        repeats = seen.get(text, 0)
        seen[text] = repeats + 1
        if repeats:
            text = f"{text} ({repeats})"

        links.append(
            {
                "label": ARTIFACT_LINK_LABEL,
                "linkText": text,
                "url": _artifact_url(root_url, task_id, run_id, full_name),
            }
        )

    return links


def _artifact_url(root_url: str, task_id: str, run_id: int, name: str) -> str:
    return f"{root_url.rstrip('/')}/api/queue/v1/task/{task_id}/runs/{run_id}/artifacts/{name}"


def _current_run(
    message: Mapping[str, Any], task_id: str, event: str
) -> tuple[int, Mapping[str, Any]]:
    run_id = message.get("runId")
    runs = message["status"].get("runs")

    if run_id is None and event == "exception":
        raise RejectedMessage(
            RejectReason.NOT_FOR_TREEHERDER,
            f"task-exception for task {task_id} has no runId: the deadline passed before any "
            "run started, so there is no job to report",
            detail={"taskId": task_id, "reason": "task-exception-without-run"},
        )

    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise _schema_error(["runId"], "type", run_id, "runId must be a non-negative integer")
    if not isinstance(runs, list) or run_id >= len(runs) or not isinstance(runs[run_id], Mapping):
        count = len(runs) if isinstance(runs, list) else 0
        raise _schema_error(
            ["status", "runs"], "runId", run_id, f"run {run_id} is not among the {count} runs"
        )

    return run_id, runs[run_id]


def _build_job(
    route: TreeherderRoute,
    task_definition: Mapping[str, Any],
    task_id: str,
    run_id: int,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    config = task_definition["extra"]["treeherder"]
    metadata = task_definition.get("metadata")
    if not isinstance(metadata, Mapping):
        raise _schema_error(["metadata"], "required", metadata, "task definition has no metadata")

    try:
        guid_task = uuid_from_slug(task_id)
    except ValueError:
        raise _schema_error(
            ["status", "taskId"], "slugid", task_id, "taskId is not a slugid"
        ) from None

    display: dict[str, Any] = {
        "jobSymbol": str(config["symbol"]),
        "groupSymbol": config.get("groupSymbol", "?"),
        "jobName": str(metadata.get("name", ""))[:MAX_JOB_NAME_CHARS],
    }
    if config.get("groupName"):
        display["groupName"] = config["groupName"]

    job: dict[str, Any] = {
        "buildSystem": "taskcluster",
        "owner": metadata.get("owner"),
        "taskId": f"{guid_task}/{run_id}",
        "retryId": run_id,
        "isRetried": False,
        "display": display,
        "state": _state(run),
        "result": _result(run),
        "tier": config.get("tier", 1),
        "timeScheduled": task_definition.get("created"),
        "jobKind": config.get("jobKind", "other"),
        "reason": config.get("reason", "scheduled"),
        "jobInfo": {"links": [], "summary": metadata.get("description")},
        "version": 1,
        "origin": {"project": route.project, "revision": route.revision, "id": route.push_id},
        "labels": _labels(config),
        "buildMachine": _build_machine(config, task_definition, run),
    }
    if config.get("productName"):
        job["productName"] = config["productName"]

    return job


def _state(run: Mapping[str, Any]) -> str:
    state = run.get("state")
    return "completed" if state in ("failed", "exception") else str(state)


def _result(run: Mapping[str, Any]) -> str:
    state = run.get("state")
    if state == "completed":
        return "success"
    if state == "failed":
        return "fail"
    if state == "exception":
        reason = run.get("reasonResolved")
        return reason if reason in _RESULT_REASONS else "exception"
    return "unknown"


def _labels(config: Mapping[str, Any]) -> list[str]:
    labels = config.get("labels")
    if labels:
        return list(labels)
    collection = config.get("collection")
    if collection:
        return list(collection)
    return ["opt"]


def _build_machine(
    config: Mapping[str, Any], task_definition: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    machine = config.get("machine", {})
    platform = machine.get("platform", task_definition.get("workerType"))
    if not isinstance(platform, str):
        raise _schema_error(
            ["workerType"], "required", platform,
            "task has neither extra.treeherder.machine.platform nor workerType",
        )
    return {
        "name": run.get("workerId", "unknown"),
        "platform": platform,
        "os": machine.get("os", "-"),
        "architecture": machine.get("architecture", "-"),
    }


def _is_retried(runs: list[Any], run_id: int) -> bool:
    # An exception run was retried automatically when the queue created the next run for it.
    if len(runs) <= run_id + 1 or not isinstance(runs[run_id + 1], Mapping):
        return False
    return runs[run_id + 1].get("reasonCreated") in _RETRY_REASONS


def _run_time(run: Mapping[str, Any], field: str, run_id: int) -> str:
    value = run.get(field)
    if not isinstance(value, str):
        path = ["status", "runs", run_id, field]
        raise _schema_error(path, "required", value, f"run has no {field} time")
    return value


def _schema_error(path: list[Any], rule: str, value: Any, message: str) -> RejectedMessage:
    detail = make_detail(path, rule, value, message)
    text = f"invalid task event: {detail['path']}: {message}"
    return RejectedMessage(RejectReason.SCHEMA, text, [detail])

"""Tests of transform_task_event: Treeherder's sample task events and the task event rules."""

from __future__ import annotations

import copy

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.job import transform_pulse_job
from streams.transforms.task import artifact_links, parse_treeherder_route, transform_task_event

from .conftest import corpus

PREFIX = "exchange/taskcluster-queue/v1/"
ROOT_URL = "https://taskcluster.net"
TASK_ID = "A35mWTRuQmyj88yMnIF0fA"
TASK_GUID = "037e6659-346e-426c-a3f3-cc8c9c81747c"
MESSAGES = corpus("taskcluster_pulse_messages.json")


@pytest.fixture(scope="module")
def sample_registry():
    """Registry with the repositories the sample events name."""
    registry = RepositoryRegistry.load()
    for name in ("autoland", "try", "mozilla-inbound"):
        registry.by_name(name)
    return registry


@pytest.fixture
def make_event():
    """Build a task event body for the sample task with the given runs and run id."""

    def build(runs, run_id=0):
        message = copy.deepcopy(MESSAGES[TASK_ID]["payload"])
        message["status"]["runs"] = runs
        message["status"]["state"] = runs[-1]["state"] if runs else "unscheduled"
        if run_id is None:
            message.pop("runId", None)
        else:
            message["runId"] = run_id
        return message

    return build


@pytest.fixture
def definition():
    return corpus("taskcluster_tasks.json")[TASK_ID]


def make_run(run_id, state, created="scheduled", resolved=None, started=True, worker="i-0abc"):
    run = {
        "runId": run_id,
        "state": state,
        "reasonCreated": created,
        "scheduled": "2019-06-26T19:36:10.316Z",
    }
    if started:
        run.update({"started": "2019-06-26T19:40:00.000Z", "workerId": worker})
    if resolved:
        run.update({"reasonResolved": resolved, "resolved": "2019-06-26T19:50:00.000Z"})
    return run


def without_repository(record):
    return {key: value for key, value in record.items() if key != "repository"}


@pytest.mark.parametrize("artifacts", [None, []], ids=["not-listed", "empty"])
@pytest.mark.parametrize("task_id", sorted(MESSAGES))
def test_sample_event_matches_treeherder(task_id, artifacts, sample_registry):
    envelope = corpus("taskcluster_pulse_messages.json")[task_id]
    definition = corpus("taskcluster_tasks.json")[task_id]

    pulse_job = transform_task_event(
        envelope["exchange"], envelope["payload"], definition, envelope["root_url"], artifacts, None
    )
    record = transform_pulse_job(pulse_job, sample_registry)

    assert without_repository(record) == corpus("taskcluster_transformed_jobs.json")[task_id]


@pytest.mark.parametrize(
    ("exchange", "runs", "run_id", "state", "result", "retried"),
    [
        ("task-defined", [], None, "unscheduled", "unknown", False),
        ("task-pending", [make_run(0, "pending", started=False)], 0, "pending", "unknown", False),
        ("task-running", [make_run(0, "running")], 0, "running", "unknown", False),
        ("task-completed", [make_run(0, "completed", resolved="completed")], 0, "completed", "success", False),
        ("task-failed", [make_run(0, "failed", resolved="failed")], 0, "completed", "testfailed", False),
        (
            "task-exception",
            [make_run(0, "exception", resolved="worker-shutdown"), make_run(1, "pending", "retry", started=False)],
            0, "completed", "retry", True,
        ),
        (
            "task-exception",
            [make_run(0, "exception", resolved="claim-expired"), make_run(1, "pending", "task-retry", started=False)],
            0, "completed", "retry", True,
        ),
        ("task-exception", [make_run(0, "exception", resolved="canceled", started=False)], 0, "completed", "usercancel", False),
        ("task-exception", [make_run(0, "exception", resolved="superseded")], 0, "completed", "superseded", False),
        ("task-exception", [make_run(0, "exception", resolved="malformed-payload")], 0, "completed", "exception", False),
        (
            "task-exception",
            [make_run(0, "exception", resolved="worker-shutdown"), make_run(1, "pending", "rerun", started=False)],
            0, "completed", "exception", False,
        ),
    ],
    ids=[
        "defined", "pending", "running", "completed", "failed", "retried", "task-retry",
        "canceled", "superseded", "malformed-payload", "rerun-is-not-retry",
    ],
)
def test_event_state_and_result(
    exchange, runs, run_id, state, result, retried, make_event, definition, sample_registry
):
    message = make_event(runs, run_id)

    pulse_job = transform_task_event(PREFIX + exchange, message, definition, ROOT_URL, [], None)
    job = transform_pulse_job(pulse_job, sample_registry)["job"]

    assert job["state"] == state
    assert job["result"] == result
    assert pulse_job["isRetried"] is retried
    assert job["job_guid"] == f"{TASK_GUID}/0"


def test_defined_event_uses_run_zero(make_event, definition):
    pulse_job = transform_task_event(PREFIX + "task-defined", make_event([], None), definition, ROOT_URL, None, None)

    assert pulse_job["taskId"] == f"{TASK_GUID}/0"
    assert pulse_job["buildMachine"]["name"] == "unknown"
    assert "timeStarted" not in pulse_job


def test_deadline_exception_skipped(make_event, definition):
    runs = [make_run(0, "exception", created="exception", resolved="deadline-exceeded", started=False)]

    result = transform_task_event(PREFIX + "task-exception", make_event(runs, 0), definition, ROOT_URL, [], None)

    assert result is None


def test_exception_without_run_rejected(make_event, definition):
    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "task-exception", make_event([], None), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.NOT_FOR_TREEHERDER
    assert caught.value.detail["reason"] == "task-exception-without-run"


def test_exception_times_and_no_logs(make_event, definition):
    runs = [make_run(0, "exception", resolved="canceled", started=False)]

    pulse_job = transform_task_event(PREFIX + "task-exception", make_event(runs, 0), definition, ROOT_URL, [], None)

    assert "timeStarted" not in pulse_job
    assert pulse_job["timeCompleted"] == "2019-06-26T19:50:00.000Z"
    assert pulse_job["logs"] == []


def test_failed_event_links_live_log(make_event, definition):
    runs = [make_run(0, "failed", resolved="failed")]

    pulse_job = transform_task_event(PREFIX + "task-failed", make_event(runs, 0), definition, ROOT_URL + "/", None, None)

    assert pulse_job["logs"] == [
        {
            "name": "live_backing_log",
            "url": f"{ROOT_URL}/api/queue/v1/task/{TASK_ID}/runs/0/artifacts/public/logs/live_backing.log",
        }
    ]


def test_run_id_beyond_runs_rejected(make_event, definition):
    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "task-running", make_event([make_run(0, "running")], 3), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.SCHEMA


def test_running_without_start_rejected(make_event, definition):
    runs = [make_run(0, "running", started=False)]

    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "task-running", make_event(runs, 0), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.SCHEMA


def test_unknown_exchange_rejected(make_event, definition):
    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "artifact-created", make_event([make_run(0, "running")]), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.UNSUPPORTED_EXCHANGE


@pytest.mark.parametrize(
    ("routes", "project", "revision", "push_id"),
    [
        (["tc-treeherder.v2.autoland.219d38523a321229f7f48aca6592f76b993fb1aa.88565"], "autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", 88565),
        (["tc-treeherder.v2.mozilla-mobile/fenix.219d38523a321229f7f48aca6592f76b993fb1aa"], "fenix", "219d38523a321229f7f48aca6592f76b993fb1aa", 0),
        (["index.x", "tc-treeherder-staging.v2.try.abc.1", "tc-treeherder.v2.try.abc.7"], "try", "abc", 7),
        (["tc-treeherder.v2.try.abc."], "try", "abc", 0),
    ],
    ids=["hg", "github-owner-repo", "staging-route-ignored", "empty-id"],
)
def test_route_parsed(routes, project, revision, push_id):
    route = parse_treeherder_route(routes, TASK_ID)

    assert route.project == project
    assert route.revision == revision
    assert route.push_id == push_id


@pytest.mark.parametrize(
    ("routes", "reason"),
    [
        ([], RejectReason.NOT_FOR_TREEHERDER),
        (["tc-treeherder-staging.v2.try.abc.1"], RejectReason.NOT_FOR_TREEHERDER),
        (["tc-treeherder.v2.try.abc.1", "tc-treeherder.v2.try.abc.2"], RejectReason.NOT_FOR_TREEHERDER),
        (["tc-treeherder.v2.try"], RejectReason.SCHEMA),
        (["tc-treeherder.v2.try.abc.x12"], RejectReason.SCHEMA),
        ("tc-treeherder.v2.try.abc.1", RejectReason.NOT_FOR_TREEHERDER),
    ],
    ids=["none", "staging-only", "two", "too-short", "id-not-number", "routes-not-list"],
)
def test_route_rejected(routes, reason):
    with pytest.raises(RejectedMessage) as caught:
        parse_treeherder_route(routes, TASK_ID)

    assert caught.value.reason is reason


def test_project_filter_rejects_other_projects(make_event, definition):
    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(
            PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, frozenset({"try"})
        )

    assert caught.value.reason is RejectReason.IGNORED_PROJECT


def test_project_filter_accepts_listed_project(make_event, definition):
    pulse_job = transform_task_event(
        PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, frozenset({"autoland", "try"})
    )

    assert pulse_job["origin"]["project"] == "autoland"


def test_missing_config_not_for_treeherder(make_event, definition):
    del definition["extra"]["treeherder"]

    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.NOT_FOR_TREEHERDER


def test_invalid_config_schema(make_event, definition):
    definition["extra"]["treeherder"]["tier"] = 7

    with pytest.raises(RejectedMessage) as caught:
        transform_task_event(PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, None)

    assert caught.value.reason is RejectReason.SCHEMA


def test_config_defaults_applied(make_event, definition):
    config = definition["extra"]["treeherder"]
    for key in ("groupSymbol", "groupName", "collection", "machine", "tier", "jobKind"):
        config.pop(key)
    config["symbol"] = 3
    definition["metadata"]["name"] = "n" * 200

    pulse_job = transform_task_event(PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, None)

    assert pulse_job["display"]["groupSymbol"] == "?"
    assert "groupName" not in pulse_job["display"]
    assert pulse_job["display"]["jobSymbol"] == "3"
    assert len(pulse_job["display"]["jobName"]) == 139
    assert pulse_job["labels"] == ["opt"]
    assert pulse_job["tier"] == 1
    assert pulse_job["jobKind"] == "other"
    assert pulse_job["buildMachine"] == {
        "name": "i-0abc", "platform": "gecko-t-linux-large", "os": "-", "architecture": "-",
    }


def test_labels_win_over_collection(make_event, definition):
    definition["extra"]["treeherder"]["labels"] = ["asan", "opt"]

    pulse_job = transform_task_event(PREFIX + "task-running", make_event([make_run(0, "running")]), definition, ROOT_URL, None, None)

    assert pulse_job["labels"] == ["asan", "opt"]


def test_inputs_not_modified(make_event, definition):
    message = make_event([make_run(0, "completed", resolved="completed")])
    artifacts = [{"name": "public/a.log"}]
    before = copy.deepcopy((message, definition, artifacts))

    transform_task_event(PREFIX + "task-completed", message, definition, ROOT_URL, artifacts, None)

    assert (message, definition, artifacts) == before


def test_artifact_links_named_by_basename():
    artifacts = [
        {"name": "public/logs/"},
        {"name": "public/a/log.txt"},
        {"name": "public/b/log.txt"},
        {"name": "public/c/log.txt"},
        {"name": "public/target.zip"},
    ]

    links = artifact_links(ROOT_URL, TASK_ID, 2, artifacts)

    assert [link["linkText"] for link in links] == ["log.txt", "log.txt (1)", "log.txt (2)", "target.zip"]
    assert links[1]["url"] == f"{ROOT_URL}/api/queue/v1/task/{TASK_ID}/runs/2/artifacts/public/b/log.txt"
    assert {link["label"] for link in links} == {"artifact uploaded"}

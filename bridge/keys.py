"""Kafka key selection: one push's jobs, one task's events or one repository's pushes share a partition."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bridge.delivery import Delivery

GITHUB_EXCHANGE_PREFIX = "exchange/taskcluster-github/"
TASK_EXCHANGE_PREFIX = "exchange/taskcluster-queue/"


def push_key(delivery: Delivery) -> bytes:
    """Return the repository identity of a push message.

    GitHub messages give ``organization/repository`` from the body, or from the
    ``primary.<organization>.<repository>[.<action>]`` routing key when the body
    has no such fields. hg.mozilla.org and other exchanges use the routing key,
    which for hgpushes is the repository path (``integration/autoland``).
    """
    if delivery.exchange.startswith(GITHUB_EXCHANGE_PREFIX):
        body = _json_object(delivery.body)
        organization = body.get("organization") if body else None
        repository = body.get("repository") if body else None
        if isinstance(organization, str) and isinstance(repository, str) and organization and repository:
            return f"{organization}/{repository}".encode()

        words = delivery.routing_key.split(".")
        if len(words) >= 3 and words[0] == "primary":
            # taskcluster-github writes "." in names as "%".
            return f"{words[1].replace('%', '.')}/{words[2].replace('%', '.')}".encode()

    if delivery.routing_key:
        return delivery.routing_key.encode()
    return fallback_key(delivery)


def job_key(delivery: Delivery) -> bytes:
    """Return the `<repository>/<revision>` push key of a pulse job, else its task key.

    The key is ``origin.project`` and ``origin.revision`` of the body, the key that the
    worker's join uses for the job's push. Kafka's default partitioner then puts the raw job
    in the partition of its push, and the worker joins it there without re-keying it. Every
    event of one task names the same origin, so a task's events still share a partition. A
    body without both fields gets ``task_key``, and the worker re-keys that record itself.
    """
    body = _json_object(delivery.body)
    origin = body.get("origin") if body is not None else None
    if isinstance(origin, dict):
        project = origin.get("project")
        revision = origin.get("revision")
        if isinstance(project, str) and project and isinstance(revision, str) and revision:
            return f"{project}/{revision}".encode()

    return task_key(delivery)


def task_key(delivery: Delivery) -> bytes:
    """Return the task id of a pulse job or Taskcluster task event.

    The body's ``status.taskId`` (task events) or ``taskId`` (pulse jobs, where it
    reads ``<task id>/<run id>`` and the run is dropped) comes first. Then the
    second word of a taskcluster-queue ``primary.<taskId>...`` routing key, then
    ``fallback_key``.
    """
    body = _json_object(delivery.body)
    if body is not None:
        status = body.get("status")
        candidate = status.get("taskId") if isinstance(status, dict) else None
        if not isinstance(candidate, str) or not candidate:
            candidate = body.get("taskId")
        if isinstance(candidate, str) and candidate:
            return candidate.split("/", 1)[0].encode()

    if delivery.exchange.startswith(TASK_EXCHANGE_PREFIX):
        words = delivery.routing_key.split(".")
        if len(words) >= 2 and words[0] == "primary" and words[1]:
            return words[1].encode()

    return fallback_key(delivery)


def fallback_key(delivery: Delivery) -> bytes:
    """Return the AMQP message id, else a hash of the body, so a redelivery gets the same key."""
    if delivery.message_id:
        return delivery.message_id.encode()
    return hashlib.sha256(delivery.body).hexdigest()[:32].encode()


def _json_object(body: bytes) -> dict[str, Any] | None:
    """Parse the body when it is a JSON object; return None for anything else."""
    if body.lstrip()[:1] != b"{":
        return None
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None

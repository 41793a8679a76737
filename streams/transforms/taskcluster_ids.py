"""Taskcluster task ids: the 22-character slug form and the UUID form used in job GUIDs."""

from __future__ import annotations

import base64
import uuid


def slug_from_uuid(value: str) -> str:
    """Encode a UUID string as a Taskcluster slug: URL-safe base64 of its 16 bytes, unpadded."""
    raw = uuid.UUID(value).bytes
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def uuid_from_slug(slug: str) -> str:
    """Decode a Taskcluster slug to the hyphenated UUID form used in job GUIDs."""
    raw = base64.urlsafe_b64decode(slug + "==")
    return str(uuid.UUID(bytes=raw))


def task_and_retry_ids(job_guid: str) -> tuple[str, int] | None:
    """Split a ``<uuid>/<run id>`` GUID into the task slug and run id; None if it is not one."""
    parts = job_guid.split("/")
    if len(parts) != 2:
        return None

    task_part, run_part = parts
    if not run_part.isdigit():
        return None

    try:
        return slug_from_uuid(task_part), int(run_part)
    except ValueError:
        return None

"""Conversion of ISO 8601 date-times to epoch seconds."""

from __future__ import annotations

import calendar
from datetime import datetime

from streams.errors import RejectedMessage, RejectReason


def to_epoch_seconds(value: str, field: str) -> int:
    """Convert an ISO 8601 date-time to whole epoch seconds, UTC.

    A value without an offset is read as UTC and fractions of a second are dropped, as
    Treeherder does. Raises RejectedMessage(SCHEMA) naming ``field`` when the text is not a
    valid date-time (for example month 13).
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise RejectedMessage(
            RejectReason.SCHEMA,
            f"{field} is not a valid ISO 8601 date-time: {value!r}",
            detail=[{"path": field, "rule": "date-time", "value": repr(value)[:200],
                     "message": str(error)}],
        ) from None

    return calendar.timegm(parsed.utctimetuple())

"""Last emitted push id per repository, kept in memory and optionally in a JSON file."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


class PushlogState:
    """Map from repository name to the id of the last push the poller handled.

    With a ``path``, ``load`` reads the file and ``save`` replaces it atomically (write to a
    temporary file, then rename), so a crash never leaves a half-written file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._last_ids: dict[str, int] = {}
        self._dirty = False

    def last_push_id(self, repository: str) -> int | None:
        """Return the last handled push id of ``repository``, or None before the first poll."""
        return self._last_ids.get(repository)

    def record(self, repository: str, push_id: int) -> None:
        """Remember ``push_id`` as handled, unless a later push id is already stored."""
        if push_id > self._last_ids.get(repository, -1):
            self._last_ids[repository] = push_id
            self._dirty = True

    def load(self) -> None:
        """Read the state file; a missing one means a first start and an unreadable one is logged.

        An unreadable file is ignored, so the next poll emits the last 10 pushes again.
        """
        if self.path is None or not self.path.exists():
            return

        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            last_ids = data["last_push_ids"]
            self._last_ids = {str(name): int(push_id) for name, push_id in last_ids.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning(
                "pushlog state file %s is unreadable (%s); starting without it", self.path, error
            )
            self._last_ids = {}
            return

        logger.info(
            "pushlog state loaded for %d repositories from %s", len(self._last_ids), self.path
        )

    def save(self) -> None:
        """Write the state file when something changed since the last save."""
        if self.path is None or not self._dirty:
            return

        temporary = self.path.with_name(self.path.name + ".tmp")
        text = json.dumps({"last_push_ids": self._last_ids}, indent=2, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
        self._dirty = False

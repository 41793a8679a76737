"""Exclusive lock on the state folder, so concurrent stack commands run one after another."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive flock on `<state>/lock`, waiting while another command holds it.

    Two `up` commands at once would otherwise start two servers on the same ports and data.
    The kernel releases the lock when the process exits, even on a crash.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("another pulse-stack command has locked %s; waiting for it", state_dir / "lock")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

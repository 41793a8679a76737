"""Unit tests for the state folder lock."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from stack.lock import state_lock


def test_lock_is_exclusive(tmp_path: Path):
    with state_lock(tmp_path):
        with open(tmp_path / "lock", "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_lock_released_after_exit(tmp_path: Path):
    with state_lock(tmp_path):
        pass

    with open(tmp_path / "lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)

"""Factory fixtures for the stack package's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config import StackConfig


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., StackConfig]:
    """Build a StackConfig from variables, with the state folder in a temporary folder."""

    def build(**variables: str) -> StackConfig:
        environ = {"PULSE_STACK_DIR": str(tmp_path / "state"), **variables}
        return StackConfig.from_env(environ)

    return build

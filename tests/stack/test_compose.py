"""Validation of docker-compose.yml with the docker-compose client, when it is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from stack.config import REPO_ROOT


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_valid():
    done = subprocess.run(
        ["docker-compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr

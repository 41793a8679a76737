"""Checks for the programs the stack needs, with Debian package installs when running as root."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from stack.errors import StackError
from stack.process import run

logger = logging.getLogger(__name__)


def require_program(program: str, package: str) -> str:
    """Return the path of ``program``; raise StackError naming the package when it is missing."""
    found = shutil.which(program)
    if found is None:
        raise StackError(
            f"{program} not found: install it with `apt-get install -y {package}`"
        )
    return found


def ensure_debian_package(path: Path, package: str) -> None:
    """Install ``package`` with apt-get when ``path`` is missing and this process is root."""
    if path.exists():
        return

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"{path} not found: install the Debian package with "
            f"`sudo apt-get install -y {package}`, then run the command again"
        )

    logger.info("%s not found; installing Debian package %s", path, package)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], "apt-get update", env=env)
    run(["apt-get", "install", "-y", "-q", package], f"apt-get install {package}", env=env)

    if not path.exists():
        raise StackError(f"{path} still missing after installing {package}")


def require_traversable(folder: Path, user: str) -> None:
    """Raise StackError when another OS user (``user``) cannot enter ``folder`` or a parent."""
    for current in [folder, *folder.parents]:
        if not current.exists():
            continue
        if not current.stat().st_mode & stat.S_IXOTH:
            raise StackError(
                f"{current} is not searchable by other users, so the {user} user cannot reach "
                f"{folder}: run `chmod o+x {current}` or set PULSE_STACK_DIR to another folder"
            )

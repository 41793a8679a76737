"""Start the local stack when one of its services is down."""

from __future__ import annotations

import logging

from stack.cli import build_services, run_in_parallel, write_env_file
from stack.config import StackConfig

logger = logging.getLogger(__name__)


def ensure_stack_up() -> bool:
    """Start the services of the local stack that are down; return False when one fails to start."""
    config = StackConfig.from_env()
    services = build_services(config, [])
    down = [service for service in services if not service.status().up]
    if not down:
        logger.info("Local stack is up")
        return True

    logger.info("Starting %s of the local stack", ", ".join(service.name for service in down))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    started = run_in_parallel(down, "start")
    write_env_file(config)
    return started

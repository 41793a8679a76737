"""Seeded fault plan: which fault fires when, as a share of the published messages."""

from __future__ import annotations

import random
from dataclasses import dataclass

BRIDGE_KILL = "kill-bridge"
WORKER_KILL = "kill-worker"
SERVICE_RESTART = "restart"

# Faults fire while this share of the messages is published, so messages flow before and after.
FIRST_TRIGGER = 0.05
LAST_TRIGGER = 0.9


@dataclass(frozen=True)
class PlannedFault:
    """One fault: its kind, its target (worker number or service name), and when it fires."""

    kind: str
    target: str
    trigger: float

    @property
    def label(self) -> str:
        """Return a short name such as `kill-worker 1` or `restart kafka`."""
        return f"{self.kind} {self.target}" if self.target else self.kind


def plan_faults(
    seed: int,
    bridge_kills: int,
    worker_kills: int,
    workers: int,
    services: tuple[str, ...],
) -> list[PlannedFault]:
    """Return the faults in firing order, each at a random share of the published messages."""
    rng = random.Random(seed)
    faults = [PlannedFault(BRIDGE_KILL, "", 0.0) for _ in range(bridge_kills)]
    faults += [PlannedFault(WORKER_KILL, str(rng.randrange(workers)), 0.0) for _ in range(worker_kills)]
    faults += [PlannedFault(SERVICE_RESTART, name, 0.0) for name in services]

    triggers = sorted(rng.uniform(FIRST_TRIGGER, LAST_TRIGGER) for _ in faults)
    rng.shuffle(faults)
    return [PlannedFault(fault.kind, fault.target, trigger) for fault, trigger in zip(faults, triggers)]

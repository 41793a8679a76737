"""One fault run: publish a workload while faults fire, wait for the outcomes and verify them."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from streams.faults.pipeline import FaultPipeline
from streams.faults.publisher import PacedPublisher, PublishProgress
from streams.faults.schedule import BRIDGE_KILL, SERVICE_RESTART, WORKER_KILL, PlannedFault
from streams.faults.services import restart_service
from streams.faults.settle import STALL_SECONDS, settle_and_verify
from streams.faults.workload import Workload
from streams.verify.report import VerifyReport

logger = logging.getLogger(__name__)

# Seconds between two checks of the publisher's progress while a fault waits for its turn.
TRIGGER_POLL = 0.2


@dataclass(frozen=True)
class InjectedFault:
    """A fault that fired: seconds from the start of publishing, and how long it took."""

    label: str
    at: float
    took: float
    error: str | None = None


@dataclass
class RunResult:
    """Everything a fault run reports."""

    workload: Workload
    faults: list[InjectedFault] = field(default_factory=list)
    publish: PublishProgress | None = None
    unplanned_exits: list[str] = field(default_factory=list)
    published_seconds: float = 0.0
    seconds: float = 0.0
    report: VerifyReport | None = None


def fire(pipeline: FaultPipeline, fault: PlannedFault, environ: Mapping[str, str]) -> None:
    """Inject one fault and return once the broken part runs again."""
    if fault.kind == BRIDGE_KILL:
        pipeline.kill_bridge()
    elif fault.kind == WORKER_KILL:
        pipeline.kill_worker(int(fault.target))
    elif fault.kind == SERVICE_RESTART:
        restart_service(fault.target, environ)
    else:
        raise ValueError(f"unknown fault kind {fault.kind!r}")


def run_faults(
    pipeline: FaultPipeline,
    workload: Workload,
    faults: Sequence[PlannedFault],
    rate: float,
    max_seconds: float,
    environ: Mapping[str, str] | None = None,
    stall_seconds: float = STALL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Publish ``workload`` at ``rate`` messages/s, fire ``faults`` on the way, then verify.

    The whole run, waiting for the outcomes included, ends within about ``max_seconds``, and the
    wait ends early when no message is accounted for during ``stall_seconds``.
    """
    environment = dict(environ if environ is not None else os.environ)
    result = RunResult(workload)
    started = clock()
    deadline = started + max_seconds
    outgoing = pipeline.outgoing(workload.messages)
    ids = [message.message_id for message in outgoing if message.message_id]

    publisher = PacedPublisher(pipeline.settings.pulse_url, outgoing, rate, deadline)
    publisher.start()
    try:
        for fault in faults:
            while publisher.share_done() < fault.trigger and not publisher.progress.finished and clock() < deadline:
                time.sleep(TRIGGER_POLL)
            if clock() >= deadline:
                logger.error("Reached --max-seconds before fault %s", fault.label)
                break
            result.faults.append(_fire_timed(pipeline, fault, environment, started, clock))
            pipeline.revive()

        while not publisher.progress.finished and clock() < deadline:
            publisher.join(timeout=1.0)
            pipeline.revive()
    finally:
        publisher.stop()

    result.publish = publisher.progress
    result.published_seconds = clock() - started
    # Only confirmed messages are sure to be in the broker, so only their ids are checked.
    confirmed = ids[: publisher.progress.confirmed]
    result.report = settle_and_verify(pipeline, confirmed, max(1.0, deadline - clock()), stall_seconds)
    result.unplanned_exits = list(pipeline.unplanned_exits)
    result.seconds = clock() - started
    return result


def _fire_timed(
    pipeline: FaultPipeline,
    fault: PlannedFault,
    environ: Mapping[str, str],
    started: float,
    clock: Callable[[], float],
) -> InjectedFault:
    at = clock() - started
    logger.info("Fault %s at %.1f s", fault.label, at)
    error = None
    try:
        fire(pipeline, fault, environ)
    except Exception as failure:  # noqa: BLE001 - a failed fault is reported, the run goes on
        logger.error("Fault %s failed: %s", fault.label, failure)
        error = str(failure)
    return InjectedFault(fault.label, at, clock() - at - started, error)


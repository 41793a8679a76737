"""A bridge and several workers of one run on their own topics and queues, with crash and restart helpers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

import amqp
from kombu.exceptions import KombuError

from bridge.publish import OutgoingMessage
from streams.cli import READY_MESSAGE
from streams.faults.workload import WorkloadMessage
from streams.main_job import broker
from streams.main_job.processes import ManagedProcess, child_env
from streams.main_job.settings import RunSettings, free_port
from streams.sinks.database import upgrade_database
from streams.topics import ensure_topics

logger = logging.getLogger(__name__)

# Seconds the bridge gets to declare and consume its queues after a start.
BRIDGE_START_TIMEOUT = 120.0

# Seconds a SIGKILLed process gets to be reaped by the kernel.
KILL_TIMEOUT = 10.0

# Seconds a worker gets to log its ready line at the first start.
WORKER_START_TIMEOUT = 180.0

# Text at the start of the worker's ready line.
READY_TEXT = READY_MESSAGE.split("%", 1)[0]


def kill(process: ManagedProcess) -> None:
    """Send SIGKILL to ``process``, as a crash would, and wait until it has exited."""
    pid = process.pid
    if pid is None or process.exit_code() is not None:
        return

    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_TIMEOUT
    while process.exit_code() is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} (PID {pid}) did not exit within {KILL_TIMEOUT:.0f} s of SIGKILL")
        time.sleep(0.05)

    logger.info("Killed %s (PID %d) with SIGKILL", process.name, pid)
    process.stop()


def wait_for_ready(worker: ManagedProcess) -> None:
    """Wait until ``worker`` logs its ready line; raise when it exits or WORKER_START_TIMEOUT passes."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while READY_TEXT not in _read_log(worker):
        if worker.exit_code() is not None:
            raise RuntimeError(f"{worker.name} exited with code {worker.exit_code()} before it was ready:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{worker.name} was not ready after {WORKER_START_TIMEOUT:.0f} s")
        time.sleep(0.5)


def _read_log(process: ManagedProcess) -> str:
    try:
        return process.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


class FaultPipeline:
    """One bridge and ``workers`` workers of one Faust app, each with its own data folder and log."""

    def __init__(self, settings: RunSettings, workers: int, worker_overrides: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.worker_settings = settings.worker_settings(child_env({}))
        self.topics = self.worker_settings.topics
        self.unplanned_exits: list[str] = []
        self.bridge = ManagedProcess(
            "bridge",
            [sys.executable, "-m", "bridge.cli", "--pushes", "--jobs"],
            child_env(settings.bridge_env()),
            settings.run_dir / "bridge.log",
        )
        self.workers = [self._worker(number, worker_overrides or {}) for number in range(workers)]

    def _worker(self, number: int, overrides: Mapping[str, str]) -> ManagedProcess:
        env = {
            **self.settings.worker_env(),
            "WORKER_ID": f"fault-{number}",
            "DATA_DIR": str(self.settings.run_dir / f"worker-{number}"),
            "METRICS_PORT": str(free_port()),
            **overrides,
        }
        command = [sys.executable, "-m", "streams.cli", "--skip-migrations"]
        return ManagedProcess(f"worker-{number}", command, child_env(env), self.settings.run_dir / f"worker-{number}.log")

    @property
    def processes(self) -> list[ManagedProcess]:
        """The bridge and the workers."""
        return [self.bridge, *self.workers]

    def start(self) -> None:
        """Prepare the database and the topics, start every process and wait for the bridge's queues."""
        asyncio.run(upgrade_database(self.settings.database.url))
        asyncio.run(ensure_topics(self.worker_settings))
        # NOTE: workers of a new app that start together can handle events before their table
        # changelog topics exist and dead-letter them (PartitionsMismatch), so each worker
        # starts only after the previous one is ready.
        for worker in self.workers:
            worker.start()
            wait_for_ready(worker)
        self.bridge.start()
        self.wait_for_bridge()

    def stop(self) -> None:
        """Stop every process and delete the run's queues when they are empty."""
        for process in self.processes:
            process.stop()
        try:
            broker.delete_queues(self.settings.pulse_url, self.settings.amqp_queue_names())
        except Exception as error:  # noqa: BLE001 - cleanup must not hide the run's own result
            logger.warning("Deleting the run's queues failed: %s", error)

    def wait_for_bridge(self) -> None:
        """Wait until both bridge queues have a consumer; RabbitMQ may be restarting meanwhile."""
        deadline = time.monotonic() + BRIDGE_START_TIMEOUT
        while True:
            try:
                broker.wait_for_consumers(
                    self.settings.pulse_url,
                    self.settings.amqp_queue_names(),
                    max(1.0, deadline - time.monotonic()),
                    lambda: self.bridge.exit_code() is None,
                )
                return
            except (OSError, amqp.exceptions.AMQPError, KombuError) as error:
                if time.monotonic() > deadline:
                    raise
                logger.info("RabbitMQ is not reachable yet: %s", error)
                time.sleep(1.0)

    def kill_bridge(self) -> None:
        """SIGKILL the bridge, start it again and wait until it consumes."""
        kill(self.bridge)
        self.bridge.start()
        self.wait_for_bridge()

    def kill_worker(self, number: int) -> None:
        """SIGKILL worker ``number`` and start it again on the same data folder."""
        worker = self.workers[number]
        kill(worker)
        worker.start()

    def revive(self) -> list[str]:
        """Start again every process that exited on its own; each such exit is recorded and returned."""
        revived = []
        for process in self.processes:
            code = process.exit_code()
            if code is None or process.pid is None:
                continue
            text = f"{process.name} exited with code {code}"
            logger.error("%s; last lines:\n%s", text, process.tail())
            self.unplanned_exits.append(text)
            process.stop()
            process.start()
            revived.append(text)
        return revived

    def message_id(self, number: int) -> str:
        """Return the AMQP message id of message ``number`` of this run."""
        return broker.message_id(self.settings.run_id, number)

    def outgoing(self, messages: Sequence[WorkloadMessage]) -> list[OutgoingMessage]:
        """Return ``messages`` as AMQP messages numbered from 1 with this run's message ids."""
        return [
            OutgoingMessage(message.exchange, message.routing_key, message.body, message_id=self.message_id(number))
            for number, message in enumerate(messages, start=1)
        ]

    def logs(self) -> str:
        """Return the last lines of every process log."""
        return "\n".join(f"--- {process.name}\n{process.tail()}" for process in self.processes)

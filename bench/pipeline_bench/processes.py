"""Subprocesses of the benchmarks: pipeline workers, the Faust forwarder, the bridge and py-spy."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from streams.cli import READY_MESSAGE
from streams.main_job.processes import ManagedProcess, child_env
from streams.main_job.settings import free_port

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
FORWARD_SCRIPT = Path(__file__).resolve().parent / "faust_forward.py"

# Start of the line the worker logs once it joined its group and recovered its tables.
READY_PREFIX = READY_MESSAGE.split("%", 1)[0]

# Base URL of every HTTP lookup of a bench worker: port 9 (discard) on loopback, normally closed.
LOOKUP_SINK_URL = "http://127.0.0.1:9"

# Seconds py-spy gets to write its output after SIGINT.
PROFILER_STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class WorkerPlan:
    """Environment and log file of one pipeline worker process."""

    worker_id: str
    env: dict[str, str]
    log_path: Path
    metrics_port: int


def worker_plans(run_name: str, count: int, partitions: int, bootstrap: str, database_url: str, run_dir: Path) -> list[WorkerPlan]:
    """Return the settings of ``count`` workers of one Faust app whose topics start with ``run_name``."""
    plans = []
    for number in range(count):
        port = free_port()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "TOPIC_PREFIX": f"{run_name}.",
            "APP_ID": run_name,
            "TOPIC_PARTITIONS": str(partitions),
            "WORKER_ID": f"bench-{number}",
            "DATA_DIR": str(run_dir / f"worker-{number}"),
            "DATABASE_URL": database_url,
            "METRICS_PORT": str(port),
            # The ready line that wait_for_log_line looks for is logged at info level.
            "LOG_LEVEL": "info",
            "PYTHONPATH": str(REPO_ROOT),
            # The bench pushes are synthetic, so commit lookups and the pushlog poller are off,
            # and any lookup that still runs goes to a closed port on 127.0.0.1 instead of
            # hg.mozilla.org, Taskcluster or GitHub.
            "PUSH_ENRICHMENT": "0",
            "PUSHLOG_POLL_INTERVAL": "0",
            "LOOKUP_BASE_URL_OVERRIDE": LOOKUP_SINK_URL,
        }
        plans.append(WorkerPlan(f"worker-{number}", env, run_dir / f"worker-{number}.log", port))
    return plans


def worker_process(plan: WorkerPlan) -> ManagedProcess:
    """Return an unstarted `pulse-worker` process for ``plan``."""
    command = [sys.executable, "-m", "streams.cli", "--skip-migrations"]
    return ManagedProcess(plan.worker_id, command, child_env(plan.env), plan.log_path)


def forward_process(env: dict[str, str], log_path: Path) -> ManagedProcess:
    """Return an unstarted bare Faust forwarding worker."""
    full_env = child_env({**env, "PYTHONPATH": str(REPO_ROOT)})
    return ManagedProcess("faust-forward", [sys.executable, str(FORWARD_SCRIPT)], full_env, log_path)


def bridge_process(env: dict[str, str], log_path: Path) -> ManagedProcess:
    """Return an unstarted `pulse-bridge --jobs` process."""
    full_env = child_env({**env, "PYTHONPATH": str(REPO_ROOT)})
    return ManagedProcess("bridge", [sys.executable, "-m", "bridge.cli", "--jobs"], full_env, log_path)


def wait_for_log_line(process: ManagedProcess, text: str, timeout: float) -> None:
    """Wait until ``text`` appears in the process log; raise when it exits or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.exit_code() is not None:
            raise RuntimeError(f"{process.name} exited with code {process.exit_code()}:\n{process.tail()}")
        try:
            if text in process.log_path.read_text(encoding="utf-8", errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{process.name} did not log {text!r} within {timeout:.0f} s")


def rss_kib(pid: int) -> int:
    """Return the resident set size (VmRSS) of ``pid`` in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


class Profiler:
    """py-spy sampling one process into a collapsed-stack file; stopped with SIGINT."""

    def __init__(self, pid: int, output: Path, rate: int) -> None:
        py_spy = Path(sys.executable).parent / "py-spy"
        self._command = [str(py_spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(output)]
        self.output = output
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = output.with_suffix(".log")

    def start(self) -> None:
        """Attach py-spy to the process."""
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        logger.info("py-spy PID %d samples into %s", self._process.pid, self.output)

    def stop(self) -> None:
        """Send SIGINT so py-spy writes its output, then wait; kill it after the timeout."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=PROFILER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("py-spy (PID %d) did not stop within %.0f s; killing it", process.pid, PROFILER_STOP_TIMEOUT)
                process.kill()
                process.wait()
        self._process = None

    def __enter__(self) -> Profiler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


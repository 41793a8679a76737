"""Command line of the local stack: `pulse-stack up|down|status|restart|env|rabbitmqctl`."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

from stack.config import PULSE_EXCHANGES, StackConfig
from stack.errors import StackError
from stack.kafka import KafkaService
from stack.lock import state_lock
from stack.postgres import PostgresService
from stack.rabbitmq import RabbitMQService, declare_exchanges
from stack.service import Service
from streams.errors import ConfigurationError

logger = logging.getLogger(__name__)

SERVICE_NAMES = ("kafka", "rabbitmq", "postgres")

# Exit code of `status` when at least one service is down.
EXIT_NOT_ALL_UP = 3


def build_services(config: StackConfig, names: Sequence[str]) -> list[Service]:
    """Return the services named in ``names`` (all of them when empty), in a fixed order."""
    factories: dict[str, Callable[[StackConfig], Service]] = {
        "kafka": KafkaService,
        "rabbitmq": RabbitMQService,
        "postgres": PostgresService,
    }
    chosen = [name for name in SERVICE_NAMES if not names or name in names]
    return [factories[name](config) for name in chosen]


def mask_password(url: str) -> str:
    """Return ``url`` with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def export_lines(config: StackConfig) -> str:
    """Return shell export lines for the variables that point programs at the stack."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in config.client_env().items())


def write_env_file(config: StackConfig) -> None:
    """Write `<state>/env`, ready for `source`."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    (config.state_dir / "env").write_text(export_lines(config))


def timed(action: Callable[[], str]) -> tuple[str, float]:
    """Run ``action`` and return its summary with the seconds it took."""
    started = time.monotonic()
    summary = action()
    return summary, time.monotonic() - started


def run_in_parallel(services: Sequence[Service], action: str) -> bool:
    """Run ``action`` (start or stop) on every service at once, print one line per service and return True on success."""
    ok = True
    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        futures = [(service, pool.submit(timed, getattr(service, action))) for service in services]
        for service, future in futures:
            try:
                summary, seconds = future.result()
            except StackError as error:
                logger.error("%s: %s failed: %s", service.name, action, error)
                print(f"{service.name:<10} FAILED: {error}")
                ok = False
                continue
            print(f"{service.name:<10} {summary} in {seconds:.1f} s")
    return ok


def command_up(config: StackConfig, names: Sequence[str]) -> int:
    started = time.monotonic()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    ok = run_in_parallel(build_services(config, names), "start")
    write_env_file(config)
    print(f"stack state in {config.state_dir}; `source {config.state_dir / 'env'}` sets the client variables")
    print(f"up {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


def command_down(config: StackConfig, names: Sequence[str]) -> int:
    started = time.monotonic()
    ok = run_in_parallel(build_services(config, names), "stop")
    print(f"down {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


def command_restart(config: StackConfig, names: Sequence[str]) -> int:
    if command_down(config, names) != 0:
        return 1
    return command_up(config, names)


def command_status(config: StackConfig, names: Sequence[str]) -> int:
    statuses = [service.status() for service in build_services(config, names)]
    for status in statuses:
        print(status.line())
    return 0 if all(status.up for status in statuses) else EXIT_NOT_ALL_UP


def command_env(config: StackConfig, names: Sequence[str]) -> int:
    sys.stdout.write(export_lines(config))
    return 0


def command_exchanges(config: StackConfig, names: Sequence[str]) -> int:
    url = os.environ.get("PULSE_URL") or config.pulse_url
    try:
        declare_exchanges(url)
    # kombu and py-amqp raise their own error types besides OSError.
    except Exception as error:  # noqa: BLE001
        raise StackError(f"declaring the exchanges at {mask_password(url)} failed: {error!r}") from error
    print(f"declared {len(PULSE_EXCHANGES)} exchanges at {mask_password(url)}")
    return 0


def command_rabbitmqctl(config: StackConfig, arguments: Sequence[str]) -> int:
    sys.stdout.write(RabbitMQService(config).rabbitmqctl(*arguments))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulse-stack",
        description="Run Kafka, RabbitMQ and PostgreSQL for pulse-ingest on 127.0.0.1; state in .stack/.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    helps = {
        "up": "start the services (all when none is named) and wait until each passes its readiness check",
        "down": "stop the services that the stack started, by PID",
        "restart": "stop, then start the named services",
        "status": "print up or down per service; exit 3 when one is down",
    }
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text)
        sub.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], metavar="SERVICE",
                         help=f"one of {', '.join(SERVICE_NAMES)}")
    commands.add_parser(
        "exchanges",
        help="declare the Pulse exchanges at PULSE_URL (default: the stack's vhost); `up` does this too",
    )
    commands.add_parser("env", help="print export lines for KAFKA_BOOTSTRAP_SERVERS, PULSE_URL and the database URLs")
    ctl = commands.add_parser("rabbitmqctl", help="run rabbitmqctl against the stack's RabbitMQ node")
    ctl.add_argument("arguments", nargs=argparse.REMAINDER, help="arguments passed to rabbitmqctl")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiokafka and kombu log every failed connection attempt of the readiness retries.
    for noisy in ("aiokafka", "kombu", "amqp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if not arguments.verbose else logging.DEBUG)

    try:
        config = StackConfig.from_env()
        if arguments.command == "rabbitmqctl":
            return command_rabbitmqctl(config, arguments.arguments)
        handlers = {
            "up": command_up,
            "down": command_down,
            "restart": command_restart,
            "status": command_status,
            "env": command_env,
            "exchanges": command_exchanges,
        }
        services = getattr(arguments, "services", [])
        if arguments.command in ("up", "down", "restart"):
            with state_lock(config.state_dir):
                return handlers[arguments.command](config, services)
        return handlers[arguments.command](config, services)
    except (StackError, ConfigurationError) as error:
        logger.error("%s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())

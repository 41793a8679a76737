"""PostgreSQL cluster (Debian's server binaries) on 127.0.0.1 with the project's role and databases."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import signal
from pathlib import Path

from stack.config import POSTGRES_DATABASES, POSTGRES_PASSWORD, POSTGRES_ROLE, StackConfig
from stack.errors import StackError
from stack.prerequisites import ensure_debian_package, require_traversable
from stack.process import owned_pid, pid_alive, port_open, read_pid, retry_check, run, stop_pid, wait_until
from stack.service import ServiceStatus

logger = logging.getLogger(__name__)

# OS user that owns the cluster; PostgreSQL refuses to run as root.
POSTGRES_USER = "postgres"
SUPERUSER = "postgres"


def render_config(config: StackConfig, socket_dir: Path) -> str:
    """Return the settings appended to postgresql.conf through an include file."""
    return "\n".join(
        [
            "listen_addresses = '127.0.0.1'",
            f"port = {config.postgres_port}",
            f"unix_socket_directories = '{socket_dir}'",
            "max_connections = 200",
            "fsync = off",
            "full_page_writes = off",
            "logging_collector = off",
            "",
        ]
    )


async def provision(socket_dir: Path, port: int) -> list[str]:
    """Create the project role and databases if missing; return what was created."""
    import asyncpg

    created: list[str] = []
    connection = await asyncpg.connect(host=str(socket_dir), port=port, user=SUPERUSER, database="postgres")
    try:
        role = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", POSTGRES_ROLE)
        if role is None:
            # CREATE ROLE takes no bind parameters; both values are constants of this module.
            await connection.execute(
                f"CREATE ROLE {POSTGRES_ROLE} LOGIN CREATEDB PASSWORD '{POSTGRES_PASSWORD}'"
            )
            created.append(f"role {POSTGRES_ROLE}")

        for database in POSTGRES_DATABASES:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if exists is None:
                await connection.execute(f'CREATE DATABASE "{database}" OWNER {POSTGRES_ROLE}')
                created.append(f"database {database}")
    finally:
        await connection.close()
    return created


async def query_each_database(config: StackConfig) -> None:
    """Run a query as the project role in each database over TCP."""
    import asyncpg

    for database in POSTGRES_DATABASES:
        connection = await asyncpg.connect(
            host="127.0.0.1",
            port=config.postgres_port,
            user=POSTGRES_ROLE,
            password=POSTGRES_PASSWORD,
            database=database,
            timeout=10,
        )
        try:
            value = await connection.fetchval("SELECT 1")
        finally:
            await connection.close()
        if value != 1:
            raise StackError(f"PostgreSQL readiness: SELECT 1 in {database} returned {value!r}")


class PostgresService:
    """PostgreSQL cluster whose data, socket and log live in `<state>/postgres`."""

    name = "postgres"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.state_dir / "postgres"
        self.data_dir = self.home / "data"
        self.socket_dir = self.home / "socket"
        self.log_file = self.home / "postgres.log"
        self.bin = config.postgres_bin

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.config.postgres_port} (socket {self.socket_dir})"

    def pid(self) -> int | None:
        """Return the postmaster PID from postmaster.pid when that process serves this cluster."""
        return owned_pid(read_pid(self.data_dir / "postmaster.pid"), str(self.data_dir))

    def as_postgres(self, *argv: str) -> list[str]:
        """Prefix ``argv`` so it runs as the postgres OS user."""
        return ["runuser", "-u", POSTGRES_USER, "--", *argv]

    def prepare(self) -> bool:
        """Install the server if needed and create the cluster once; return True when created."""
        ensure_debian_package(self.bin / "postgres", "postgresql")
        if os.geteuid() != 0:
            raise StackError("PostgreSQL: run `pulse-stack up` as root, because the cluster runs as the postgres user")
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            raise StackError("the postgres OS user is missing: install the Debian package postgresql") from None
        require_traversable(self.home, POSTGRES_USER)

        for folder in (self.home, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
        # Only the postgres user (and root) may use the socket, where the superuser needs no password.
        self.socket_dir.chmod(0o700)

        created = False
        if not (self.data_dir / "PG_VERSION").exists():
            logger.info("creating PostgreSQL cluster in %s", self.data_dir)
            run(
                self.as_postgres(
                    str(self.bin / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ),
                "initdb",
            )
            created = True

        include = self.data_dir / "stack.conf"
        include.write_text(render_config(self.config, self.socket_dir))
        shutil.chown(include, POSTGRES_USER, POSTGRES_USER)
        main_conf = self.data_dir / "postgresql.conf"
        if "include = 'stack.conf'" not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write("\ninclude = 'stack.conf'\n")
        return created

    def start(self) -> str:
        pid = self.pid()
        if pid_alive(pid):
            self.wait_ready(pid)
            return f"already running (PID {pid})"

        if port_open(self.config.postgres_port):
            raise StackError(
                f"port {self.config.postgres_port} is taken by a process this stack did not start; "
                "stop it or set PULSE_STACK_POSTGRES_PORT"
            )

        created = self.prepare()
        if not self.log_file.exists():
            self.log_file.touch()
        shutil.chown(self.log_file, POSTGRES_USER, POSTGRES_USER)

        # pg_ctl detaches the postmaster and waits until it accepts connections.
        run(
            self.as_postgres(
                str(self.bin / "pg_ctl"), "start", "-w",
                "-t", str(int(self.config.start_timeout)),
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
            ),
            "pg_ctl start",
        )
        pid = self.pid()
        self.wait_ready(pid)
        return f"started (PID {pid}{', cluster created' if created else ''})"

    def wait_ready(self, pid: int | None) -> None:
        """Create the role and databases if missing, then run a query in each database."""
        alive = lambda: pid_alive(pid)  # noqa: E731
        wait_until(
            lambda: port_open(self.config.postgres_port),
            self.config.start_timeout,
            "PostgreSQL listener",
            alive,
            self.log_file,
        )

        def check() -> None:
            created = asyncio.run(provision(self.socket_dir, self.config.postgres_port))
            if created:
                logger.info("PostgreSQL: created %s", ", ".join(created))
            asyncio.run(query_each_database(self.config))

        retry_check(
            check,
            alive,
            self.config.start_timeout,
            f"PostgreSQL query check at 127.0.0.1:{self.config.postgres_port}",
            f"read {self.log_file}",
        )

    def stop(self) -> str:
        pid = self.pid()
        # SIGINT is PostgreSQL's fast shutdown: it ends open sessions instead of waiting for them.
        stopped = stop_pid(pid, "postgres", self.config.stop_timeout, first_signal=signal.SIGINT)
        return f"stopped (PID {pid})" if stopped else "already stopped"

    def status(self) -> ServiceStatus:
        pid = self.pid()
        up = pid is not None and port_open(self.config.postgres_port)
        return ServiceStatus(self.name, up, pid, self.address)

"""RabbitMQ node (Debian's rabbitmq-server) and its own epmd, both on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from stack.config import AMQP_PASSWORD, AMQP_USER, AMQP_VHOST, PULSE_EXCHANGES, StackConfig
from stack.errors import StackError
from stack.prerequisites import ensure_debian_package, require_traversable
from stack.process import (
    owned_pid,
    pid_alive,
    port_open,
    read_pid,
    retry_check,
    run,
    start_detached,
    stop_pid,
    wait_until,
    write_pid,
)
from stack.service import ServiceStatus

logger = logging.getLogger(__name__)

# Debian's wrapper: as root it runs the server as the rabbitmq user with HOME=/var/lib/rabbitmq,
# so the server and rabbitmqctl share the cookie in /var/lib/rabbitmq/.erlang.cookie.
RABBITMQ_SERVER = Path("/usr/sbin/rabbitmq-server")
RABBITMQCTL = Path("/usr/sbin/rabbitmqctl")
EPMD = Path("/usr/bin/epmd")
OPENSSL = Path("/usr/bin/openssl")
RABBITMQ_USER = "rabbitmq"

# Exchange and routing key of the readiness check. Its queue is exclusive, so it disappears
# with the connection, and the exchange is deleted with its last queue.
READINESS_EXCHANGE = "stack-readiness"
READINESS_ROUTING_KEY = "stack.readiness"


# Days the test CA and the listener's certificate are valid.
TLS_VALID_DAYS = 3650


def render_config(config: StackConfig) -> str:
    """Return rabbitmq.conf: AMQP and AMQP over TLS on loopback, the `pulse` vhost and user.

    The default_* keys create the vhost and user on the node's first boot only, and no
    guest user is created. The TLS listener does not ask clients for certificates.
    """
    tls = config.tls_dir
    return "\n".join(
        [
            f"listeners.tcp.default = 127.0.0.1:{config.amqp_port}",
            f"listeners.ssl.default = 127.0.0.1:{config.amqps_port}",
            f"ssl_options.cacertfile = {tls / 'ca.pem'}",
            f"ssl_options.certfile = {tls / 'server.pem'}",
            f"ssl_options.keyfile = {tls / 'server.key'}",
            "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false",
            f"default_vhost = {AMQP_VHOST}",
            f"default_user = {AMQP_USER}",
            f"default_pass = {AMQP_PASSWORD}",
            "default_permissions.configure = .*",
            "default_permissions.read = .*",
            "default_permissions.write = .*",
            "default_user_tags.administrator = true",
            "log.console = false",
            "log.file.level = warning",
            "",
        ]
    )


def create_test_certificates(folder: Path) -> None:
    """Create a test CA and a certificate for 127.0.0.1 and localhost that it signs, with openssl.

    Existing files are kept, so clients that trust the CA keep working across restarts.
    """
    ca_key, ca_file = folder / "ca.key", folder / "ca.pem"
    key, request, certificate = folder / "server.key", folder / "server.csr", folder / "server.pem"
    if ca_file.is_file() and certificate.is_file() and key.is_file():
        return

    ensure_debian_package(OPENSSL, "openssl")
    folder.mkdir(parents=True, exist_ok=True)
    days = str(TLS_VALID_DAYS)
    run(
        [
            str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
            "-subj", "/CN=pulse-ingest local stack test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(ca_key), "-out", str(ca_file),
        ],
        "openssl req (test CA)",
    )
    run(
        [
            str(OPENSSL), "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(key), "-out", str(request),
        ],
        "openssl req (listener key)",
    )
    extensions = folder / "server.ext"
    extensions.write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "basicConstraints = CA:FALSE\n"
        "keyUsage = digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
    )
    run(
        [
            str(OPENSSL), "x509", "-req", "-in", str(request), "-CA", str(ca_file), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", days, "-extfile", str(extensions), "-out", str(certificate),
        ],
        "openssl x509 (listener certificate)",
    )
    logger.info("created the test CA %s and the TLS listener's certificate", ca_file)


def declare_exchanges(pulse_url: str) -> None:
    """Declare the Pulse exchanges (durable, topic) in the vhost of ``pulse_url``."""
    import kombu

    with kombu.Connection(pulse_url, connect_timeout=10) as connection:
        channel = connection.channel()
        for name in PULSE_EXCHANGES:
            kombu.Exchange(name, type="topic", durable=True, channel=channel).declare()


def publish_and_consume(pulse_url: str, exchange: str, timeout: float) -> None:
    """Check that ``exchange`` exists, then round-trip one message through the readiness exchange.

    The message goes to an exchange of its own, so no queue bound to a Pulse exchange (such
    as a bridge's) ever receives it.
    """
    import kombu

    payload = {"readiness": uuid.uuid4().hex}
    with kombu.Connection(pulse_url, connect_timeout=10) as connection:
        kombu.Exchange(exchange, type="topic", passive=True, channel=connection.channel()).declare()

        target = kombu.Exchange(READINESS_EXCHANGE, type="topic", durable=False, auto_delete=True)
        queue = kombu.Queue(
            f"stack-readiness-{uuid.uuid4().hex[:8]}",
            exchange=target,
            routing_key=READINESS_ROUTING_KEY,
            exclusive=True,
            auto_delete=True,
        )
        queue(connection.channel()).declare()

        with connection.Producer() as producer:
            producer.publish(payload, exchange=target, routing_key=READINESS_ROUTING_KEY, serializer="json")

        received: list[object] = []

        def on_message(body: object, message: kombu.Message) -> None:
            received.append(body)
            message.ack()

        with connection.Consumer(queue, callbacks=[on_message]):
            connection.drain_events(timeout=timeout)

    if received != [payload]:
        raise StackError(f"RabbitMQ readiness: consumed {received!r}, expected {payload!r}")


class RabbitMQService:
    """RabbitMQ server whose config, Mnesia data, logs and PID files live in `<state>/rabbitmq`."""

    name = "rabbitmq"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.state_dir / "rabbitmq"
        self.wrapper_pid_file = self.home / "wrapper.pid"
        self.node_pid_file = self.home / "node.pid"
        self.epmd_pid_file = self.home / "epmd.pid"
        self.log_dir = self.home / "log"

    @property
    def address(self) -> str:
        return (
            f"amqp://127.0.0.1:{self.config.amqp_port}/{AMQP_VHOST} "
            f"(TLS 127.0.0.1:{self.config.amqps_port}, distribution 127.0.0.1:{self.config.rabbitmq_dist_port}, epmd 127.0.0.1:{self.config.epmd_port})"
        )

    def node_env(self) -> dict[str, str]:
        """Return the environment of the server and of rabbitmqctl for this node."""
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        return dict(
            os.environ,
            RABBITMQ_NODENAME=self.config.rabbitmq_node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.config.amqp_port),
            RABBITMQ_DIST_PORT=str(self.config.rabbitmq_dist_port),
            RABBITMQ_CONFIG_FILE=str(self.home / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.home / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.home / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_PID_FILE=str(self.node_pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=loopback_dist,
            RABBITMQ_CTL_ERL_ARGS=loopback_dist,
            ERL_EPMD_PORT=str(self.config.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
        )

    def rabbitmqctl(self, *args: str) -> str:
        """Run rabbitmqctl against this node and return its output."""
        return run([str(RABBITMQCTL), "-n", self.config.rabbitmq_node, *args], "rabbitmqctl " + " ".join(args), env=self.node_env())

    def prepare(self) -> None:
        """Install the server if needed and write its config and folders, owned by rabbitmq."""
        ensure_debian_package(RABBITMQ_SERVER, "rabbitmq-server")
        if os.geteuid() != 0:
            raise StackError("RabbitMQ: run `pulse-stack up` as root, because the server runs as the rabbitmq user")
        require_traversable(self.home, RABBITMQ_USER)

        for folder in (self.home, self.home / "mnesia", self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        create_test_certificates(self.config.tls_dir)
        (self.home / "rabbitmq.conf").write_text(render_config(self.config))
        (self.home / "enabled_plugins").write_text("[].\n")

        for path in [self.home, *self.home.rglob("*")]:
            shutil.chown(path, RABBITMQ_USER, RABBITMQ_USER)

    def node_pid(self) -> int | None:
        """Return the PID of the node's Erlang VM, written by the node itself."""
        return owned_pid(read_pid(self.node_pid_file), "beam")

    def wrapper_pid(self) -> int | None:
        """Return the PID of the wrapper shell that `up` started."""
        return owned_pid(read_pid(self.wrapper_pid_file), "rabbitmq-server")

    def epmd_pid(self) -> int | None:
        """Return the PID of the epmd that `up` started."""
        return owned_pid(read_pid(self.epmd_pid_file), f"-port {self.config.epmd_port}")

    def start_epmd(self) -> int:
        """Start the Erlang port mapper on loopback, unless the stack's own already runs."""
        pid = self.epmd_pid()
        if pid is not None:
            return pid

        if port_open(self.config.epmd_port):
            raise StackError(
                f"port {self.config.epmd_port} is taken by an epmd this stack did not start; "
                "stop it or set PULSE_STACK_EPMD_PORT"
            )
        pid = start_detached(
            [str(EPMD), "-port", str(self.config.epmd_port), "-address", "127.0.0.1"],
            self.log_dir / "epmd.out",
        )
        write_pid(self.epmd_pid_file, pid)
        wait_until(lambda: port_open(self.config.epmd_port), 30.0, "epmd listener", lambda: pid_alive(pid))
        return pid

    def start(self) -> str:
        node_pid = self.node_pid()
        if node_pid is not None:
            self.wait_ready(node_pid)
            if not port_open(self.config.amqps_port):
                # A node started before the stack had a TLS listener runs with its old config.
                logger.warning(
                    "RabbitMQ has no TLS listener on 127.0.0.1:%d; `pulse-stack restart rabbitmq` adds it",
                    self.config.amqps_port,
                )
            return f"already running (PID {node_pid})"

        for port, variable in ((self.config.amqp_port, "PULSE_STACK_AMQP_PORT"), (self.config.amqps_port, "PULSE_STACK_AMQPS_PORT")):
            if port_open(port):
                raise StackError(
                    f"port {port} is taken by a process this stack did not start; stop it or set {variable}"
                )

        self.prepare()
        self.node_pid_file.unlink(missing_ok=True)
        self.start_epmd()

        wrapper_pid = start_detached([str(RABBITMQ_SERVER)], self.log_dir / "server.out", env=self.node_env(), cwd=self.home)
        write_pid(self.wrapper_pid_file, wrapper_pid)

        # The node writes its own PID file early in its boot.
        wait_until(
            lambda: self.node_pid() is not None,
            self.config.start_timeout,
            "RabbitMQ node PID file",
            lambda: pid_alive(wrapper_pid),
            self.log_dir / "server.out",
        )
        node_pid = self.node_pid()
        self.wait_ready(node_pid)
        return f"started (PID {node_pid})"

    def wait_ready(self, node_pid: int | None) -> None:
        """Wait for an AMQP connection, declare the exchanges, then publish and consume once."""
        alive = lambda: pid_alive(node_pid)  # noqa: E731
        wait_until(
            lambda: port_open(self.config.amqp_port),
            self.config.start_timeout,
            "RabbitMQ AMQP listener",
            alive,
            self.log_dir / "server.out",
        )

        def check() -> None:
            declare_exchanges(self.config.pulse_url)
            publish_and_consume(self.config.pulse_url, PULSE_EXCHANGES[0], 20.0)

        retry_check(
            check,
            alive,
            self.config.start_timeout,
            f"RabbitMQ publish and consume check at 127.0.0.1:{self.config.amqp_port}",
            f"read {self.log_dir}",
        )

    def stop(self) -> str:
        node_pid = self.node_pid()
        wrapper_pid = self.wrapper_pid()
        epmd_pid = self.epmd_pid()

        # The node stops cleanly on SIGTERM. The wrapper shell exits when the node does, and
        # epmd keeps running after the node stops, so it gets its own signal.
        stopped = stop_pid(node_pid, "rabbitmq node", self.config.stop_timeout)
        stopped = stop_pid(wrapper_pid, "rabbitmq wrapper", self.config.stop_timeout) or stopped
        stopped = stop_pid(epmd_pid, "epmd", self.config.stop_timeout) or stopped

        for path in (self.node_pid_file, self.wrapper_pid_file, self.epmd_pid_file):
            path.unlink(missing_ok=True)
        return f"stopped (PID {node_pid}, epmd PID {epmd_pid})" if stopped else "already stopped"

    def status(self) -> ServiceStatus:
        node_pid = self.node_pid()
        epmd_pid = self.epmd_pid()
        up = node_pid is not None and port_open(self.config.amqp_port)
        detail = f"epmd PID {epmd_pid}" if epmd_pid is not None else "epmd down"
        return ServiceStatus(self.name, up, node_pid, self.address, detail)

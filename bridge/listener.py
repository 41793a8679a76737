"""AMQP listener: a thread that owns one kombu connection, consumes one queue and sends the acks.

py-amqp channels are not thread-safe, so every AMQP call happens on this thread.
Other threads hand acks over through ``ack()``, a thread-safe queue that the
consume loop empties between deliveries. Deliveries are read as raw py-amqp
messages through ``basic_consume``. kombu's ``Consumer`` is not used, because it
decodes the body and, on a decode error, acks and drops the message by default.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection

from bridge.backoff import Backoff
from bridge.config import ListenerConfig
from bridge.delivery import Delivery, delivery_from_amqp
from bridge.errors import MissingExchangeError
from bridge.metrics import ListenerStats
from bridge.topology import QueueTopology

logger = logging.getLogger(__name__)

DeliveryHandler = Callable[["AmqpListener", Delivery], None]
FailureHandler = Callable[["AmqpListener", BaseException], None]

#: Seconds drain_events waits while acks may arrive from the relay; bounds the ack latency.
BUSY_POLL = 0.005
#: Seconds drain_events waits while nothing is unacked.
IDLE_POLL = 0.5
#: Seconds between passive queue declares that refresh the queue depth.
DEPTH_INTERVAL = 10.0


class AmqpListener:
    """Consumes one queue on its own thread, reconnecting by itself, and acks what the relay confirms."""

    def __init__(
        self,
        config: ListenerConfig,
        topology: QueueTopology,
        prefetch: int,
        heartbeat: int,
        on_delivery: DeliveryHandler,
        on_failure: FailureHandler,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.stats = ListenerStats(queue=config.queue)
        self._topology = topology
        self._prefetch = prefetch
        self._heartbeat = heartbeat
        self._on_delivery = on_delivery
        self._on_failure = on_failure
        self._backoff = backoff or Backoff()

        self._acks: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._finish = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"amqp-{config.kind}", daemon=True)

        # Owned by the listener thread.
        self._generation = 0
        self._unacked = 0

    @property
    def generation(self) -> int:
        """Number of the current AMQP connection; deliveries of older ones can no longer be acked."""
        return self._generation

    def start(self) -> None:
        """Start the listener thread."""
        logger.info(
            "starting %s listener on %s, queue %s, %d bindings",
            self.config.kind,
            self.config.url.masked(),
            self.config.queue,
            len(self.config.bindings),
        )
        self._thread.start()

    def ack(self, delivery: Delivery) -> None:
        """Queue an ack for a delivery that Kafka stored; safe to call from any thread."""
        self._acks.put(delivery)

    def cancel(self) -> None:
        """Stop taking new deliveries; acks keep flowing until ``stop``."""
        self._cancel.set()

    def stop(self) -> None:
        """Send the queued acks, close the connection and end the thread."""
        self._cancel.set()
        self._finish.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; return whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        """Run sessions until stopped, reconnecting with backoff after a connection or channel error."""
        attempt = 0
        while not self._finish.is_set():
            connection = self._connection()
            try:
                self._session(connection)
                attempt = 0
            except MissingExchangeError as error:
                logger.error("%s listener stops: %s", self.config.kind, error)
                self._on_failure(self, error)
                return
            except (*connection.connection_errors, *connection.channel_errors) as error:
                delay = self._backoff.delay(attempt)
                attempt += 1
                self.stats.count_reconnect()
                logger.warning(
                    "AMQP connection of queue %s on %s failed (%s: %s); %d deliveries left unacked "
                    "will be redelivered; reconnecting in %.1f s",
                    self.config.queue,
                    self.config.url.masked(),
                    type(error).__name__,
                    error,
                    self._unacked,
                    delay,
                )
                self._finish.wait(delay)
            except Exception as error:  # noqa: BLE001 - a bug must stop the bridge, not kill the thread silently.
                logger.exception("%s listener failed unexpectedly", self.config.kind)
                self._on_failure(self, error)
                return
            finally:
                _release_quietly(connection)

        logger.info("stopped %s listener of queue %s", self.config.kind, self.config.queue)

    def _connection(self) -> Connection:
        """Create an unconnected kombu connection from the listener's Pulse URL."""
        url = self.config.url
        return Connection(
            hostname=url.host,
            port=url.port,
            userid=url.user,
            password=url.password,
            virtual_host=url.vhost,
            ssl=url.ssl,
            heartbeat=self._heartbeat,
            connect_timeout=10,
        )

    def _session(self, connection: Connection) -> None:
        """Connect, declare, consume and ack until the listener is stopped or the connection fails."""
        connection.connect()
        self._generation += 1
        self._unacked = 0
        self.stats.set_in_flight(0)

        depth = self._topology.declare(connection)
        self.stats.set_queue_depth(depth)

        channel = connection.channel()
        # py-amqp decodes a body that has a content_encoding into str; the bridge relays the wire bytes.
        channel.auto_decode = False
        channel.basic_qos(prefetch_size=0, prefetch_count=self._prefetch, a_global=False)
        consumer_tag = channel.basic_consume(queue=self.config.queue, callback=self._receive, no_ack=False)
        consuming = True
        logger.info(
            "consuming queue %s on %s (prefetch %d, %d messages ready, connection %d)",
            self.config.queue,
            self.config.url.masked(),
            self._prefetch,
            depth,
            self._generation,
        )

        next_depth_check = time.monotonic() + DEPTH_INTERVAL
        next_heartbeat_check = time.monotonic() + 1.0

        while True:
            self._send_acks(channel)

            if self._cancel.is_set() and consuming:
                channel.basic_cancel(consumer_tag)
                consuming = False
                logger.info("cancelled consumer of queue %s; %d deliveries unacked", self.config.queue, self._unacked)

            if self._finish.is_set():
                self._send_acks(channel)
                return

            try:
                connection.drain_events(timeout=BUSY_POLL if self._unacked else IDLE_POLL)
            except TimeoutError:
                pass

            now = time.monotonic()
            if now >= next_heartbeat_check:
                connection.heartbeat_check()
                self.stats.set_in_flight(self._unacked)
                next_heartbeat_check = now + 1.0
            if now >= next_depth_check:
                _, depth, _ = channel.queue_declare(queue=self.config.queue, passive=True)
                self.stats.set_queue_depth(depth)
                next_depth_check = now + DEPTH_INTERVAL

    def _receive(self, message: Any) -> None:
        """Hand one raw py-amqp message to the relay (runs inside drain_events)."""
        delivery = delivery_from_amqp(message, self._generation)
        self._unacked += 1
        self.stats.count_received()
        self._on_delivery(self, delivery)

    def _send_acks(self, channel: Any) -> None:
        """Ack every delivery the relay confirmed on the current channel; drop acks of older connections."""
        while True:
            try:
                delivery = self._acks.get_nowait()
            except queue.Empty:
                return

            if delivery.generation != self._generation:
                # The old channel is closed and the broker redelivers that message.
                logger.debug(
                    "dropping ack of delivery tag %d from connection %d (now %d); exchange %s, routing key %s",
                    delivery.delivery_tag,
                    delivery.generation,
                    self._generation,
                    delivery.exchange,
                    delivery.routing_key,
                )
                continue

            channel.basic_ack(delivery.delivery_tag)
            self._unacked -= 1
            self.stats.count_relayed()


def _release_quietly(connection: Connection) -> None:
    """Close a connection that may already be broken."""
    try:
        connection.release()
    except Exception as error:  # noqa: BLE001 - the connection may be half closed after an error.
        logger.debug("closing AMQP connection failed: %s", error)

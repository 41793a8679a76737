"""The bridge service: one producer, one listener per queue, periodic stats and an orderly shutdown."""

from __future__ import annotations

import asyncio
import logging

from bridge.binding_store import BindingStore
from bridge.config import BridgeConfig
from bridge.errors import KafkaSendError
from bridge.listener import AmqpListener
from bridge.metrics import start_metrics_server
from bridge.producer import KafkaProducerService
from bridge.relay import Relay
from bridge.topology import QueueTopology

logger = logging.getLogger(__name__)

#: Seconds to wait for a listener thread to close its connection at shutdown.
JOIN_TIMEOUT = 15.0


class Bridge:
    """Relays every configured Pulse queue to Kafka until ``request_stop`` or a fatal error."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.listeners: list[AmqpListener] = []
        self._producer = KafkaProducerService(config.bootstrap_servers, config.send_timeout, config.max_in_flight)
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None

    def request_stop(self, reason: str) -> None:
        """Begin the shutdown; call on the loop thread (a signal handler, for example)."""
        if self._stopping is not None and not self._stopping.is_set():
            logger.info("stopping the bridge: %s", reason)
            self._stopping.set()

    async def run(self) -> int:
        """Run until stopped; return 0 after a clean shutdown and 1 after a fatal error."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        config = self.config

        start_metrics_server(config.metrics_port)
        try:
            await self._producer.start(self._stopping)
        except KafkaSendError as error:
            logger.info("bridge stopped before the Kafka producer started: %s", error)
            return 0

        relay = Relay(self._producer, self._loop)
        for listener_config in config.listeners:
            store = BindingStore(
                config.data_dir,
                listener_config.url.host,
                listener_config.url.port,
                listener_config.url.vhost,
                listener_config.queue,
            )
            listener = AmqpListener(
                listener_config,
                QueueTopology(listener_config, store),
                prefetch=config.prefetch,
                heartbeat=config.heartbeat,
                on_delivery=relay.submit,
                on_failure=self._listener_failed,
            )
            self.listeners.append(listener)
            listener.start()

        stats_task = asyncio.create_task(self._log_stats_periodically(relay))
        await self._stopping.wait()
        stats_task.cancel()

        await self._shutdown(relay)
        return 1 if self._failure is not None else 0

    async def _shutdown(self, relay: Relay) -> None:
        """Stop taking deliveries, wait for sends in flight, send their acks, then close everything."""
        for listener in self.listeners:
            listener.cancel()

        left = await relay.drain(self.config.drain_timeout)
        if left:
            logger.warning(
                "%d sends still unconfirmed after %.0f s; their deliveries stay unacked and will be redelivered",
                left,
                self.config.drain_timeout,
            )

        for listener in self.listeners:
            listener.stop()
        for listener in self.listeners:
            if not await asyncio.to_thread(listener.join, JOIN_TIMEOUT):
                logger.warning("listener of queue %s did not stop within %.0f s", listener.config.queue, JOIN_TIMEOUT)

        await self._producer.stop()
        self._log_stats(relay)
        logger.info("bridge stopped")

    def _listener_failed(self, listener: AmqpListener, error: BaseException) -> None:
        """Stop the whole bridge when a listener cannot go on; called on the listener thread."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._fail, listener, error)

    def _fail(self, listener: AmqpListener, error: BaseException) -> None:
        """Record the first fatal error and begin the shutdown."""
        if self._failure is None:
            self._failure = error
        self.request_stop(f"{listener.config.kind} listener failed: {error}")

    async def _log_stats_periodically(self, relay: Relay) -> None:
        """Log the counts every ``stats_interval`` seconds."""
        while True:
            await asyncio.sleep(self.config.stats_interval)
            self._log_stats(relay)

    def _log_stats(self, relay: Relay) -> None:
        """Log one line per listener with its counts and the last known queue depth."""
        for listener in self.listeners:
            stats = listener.stats
            logger.info(
                "queue %s: received %d, relayed %d, retried %d, reconnects %d, queue depth %s; %d sends in flight",
                stats.queue,
                stats.received,
                stats.relayed,
                stats.retried,
                stats.reconnects,
                "unknown" if stats.queue_depth is None else stats.queue_depth,
                relay.in_flight,
            )

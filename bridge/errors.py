"""Errors raised by the Pulse-to-Kafka bridge."""

from __future__ import annotations

from streams.errors import PulseIngestError, RetriableError


class MissingExchangeError(PulseIngestError):
    """A configured Pulse exchange does not exist on the broker."""

    retriable = False

    def __init__(self, exchange: str, vhost: str) -> None:
        super().__init__(
            f"exchange {exchange!r} not found in vhost {vhost!r}; "
            "check the source variables or ask the publisher to create it"
        )
        self.exchange = exchange
        self.vhost = vhost


class KafkaSendError(RetriableError):
    """Kafka did not confirm a record in time or rejected it for a transient reason."""

    retriable = True

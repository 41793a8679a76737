"""``pulse-publish``: publish JSON payloads or recorded messages to Pulse exchanges with publisher confirms.

Two modes:

- ``pulse-publish ROUTING_KEY URL PAYLOAD_FILE`` publishes the file's bytes (which
  must be JSON) to ``exchange/<user>/jobs`` or to ``--exchange``.
- ``pulse-publish --from FILE_OR_DIR URL`` publishes every entry of a JSON-lines
  file, or of a folder with one JSON file per message. An entry is an object
  ``{"exchange", "routing_key", "body"}`` where ``body`` is any JSON value, or
  carries ``"body_base64"`` instead for raw bytes. Optional ``"properties"`` may
  set ``content_type``, ``content_encoding`` and ``message_id``.

Missing exchanges are declared as durable topic exchanges. Every message is
published persistent and mandatory, and the command waits for the broker's
confirm of each one. It exits 1 when the broker rejected (nack) or returned
(unroutable: no queue bound) any message.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import amqp
from amqp.exceptions import NotFound
from kombu import Connection

from bridge.urls import PulseUrl, mask_url, parse_pulse_url
from streams.errors import ConfigurationError, PulseIngestError

logger = logging.getLogger(__name__)

#: Messages published but not yet confirmed before the publisher waits for confirms.
CONFIRM_WINDOW = 1000

_PROPERTY_NAMES = ("content_type", "content_encoding", "message_id")


class PublishError(PulseIngestError):
    """An input file is invalid or the broker did not store every message."""

    retriable = False


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish."""

    exchange: str
    routing_key: str
    body: bytes = field(repr=False)
    content_type: str | None = "application/json"
    content_encoding: str | None = "utf-8"
    message_id: str | None = None


@dataclass(frozen=True)
class PublishResult:
    """Counts of one publishing run."""

    published: int
    nacked: int
    returned: int


def publish_messages(url: PulseUrl, messages: Iterable[OutgoingMessage], window: int = CONFIRM_WINDOW) -> PublishResult:
    """Publish ``messages`` in order and wait until the broker confirmed every one of them."""
    connection = Connection(
        hostname=url.host,
        port=url.port,
        userid=url.user,
        password=url.password,
        virtual_host=url.vhost,
        ssl=url.ssl,
        connect_timeout=10,
    )
    try:
        connection.connect()
        return _publish_on(connection, messages, window)
    finally:
        connection.release()


def _publish_on(connection: Connection, messages: Iterable[OutgoingMessage], window: int) -> PublishResult:
    """Publish with a window of unconfirmed messages on one confirm-mode channel."""
    channel = connection.channel()
    channel.confirm_select()

    pending: set[int] = set()
    counts = {"nacked": 0, "returned": 0}

    def settle(delivery_tag: int, multiple: bool, outcome: str | None) -> None:
        tags = [tag for tag in pending if tag <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            pending.discard(tag)
            if outcome is not None:
                counts[outcome] += 1

    def returned(error: Exception, exchange: str, routing_key: str, message: Any) -> None:
        counts["returned"] += 1
        logger.error("broker returned a message for exchange %s, routing key %s: %s", exchange, routing_key, error)

    channel.events["basic_ack"].add(lambda tag, multiple: settle(tag, multiple, None))
    channel.events["basic_nack"].add(lambda tag, multiple: settle(tag, multiple, "nacked"))
    channel.events["basic_return"].add(returned)

    declared: set[str] = set()
    sequence = 0
    for message in messages:
        if message.exchange not in declared:
            _ensure_exchange(connection, message.exchange)
            declared.add(message.exchange)

        properties = {name: getattr(message, name) for name in _PROPERTY_NAMES if getattr(message, name) is not None}
        channel.basic_publish(
            amqp.Message(message.body, delivery_mode=2, **properties),
            exchange=message.exchange,
            routing_key=message.routing_key,
            mandatory=True,
        )
        sequence += 1
        pending.add(sequence)

        while len(pending) >= window:
            connection.drain_events(timeout=30)

    while pending:
        connection.drain_events(timeout=30)

    channel.close()
    return PublishResult(published=sequence, nacked=counts["nacked"], returned=counts["returned"])


def _ensure_exchange(connection: Connection, name: str) -> None:
    """Declare ``name`` as a durable topic exchange unless it already exists."""
    channel = connection.channel()
    try:
        channel.exchange_declare(name, "topic", passive=True)
        return
    except NotFound:
        channel = connection.channel()
    try:
        channel.exchange_declare(name, "topic", durable=True, auto_delete=False)
        logger.info("declared durable topic exchange %s", name)
    finally:
        channel.close()


def read_entries(path: Path) -> Iterator[OutgoingMessage]:
    """Read messages from a JSON-lines file or from a folder with one JSON file per message."""
    if path.is_dir():
        for file in sorted(path.glob("*.json")):
            yield entry_to_message(_load_json(file.read_bytes(), str(file)), str(file))
        return

    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                where = f"{path}:{number}"
                yield entry_to_message(_load_json(line, where), where)


def entry_to_message(entry: Any, where: str) -> OutgoingMessage:
    """Convert one ``{exchange, routing_key, body | body_base64}`` entry."""
    if not isinstance(entry, dict):
        raise PublishError(f"{where}: expected a JSON object")
    for key in ("exchange", "routing_key"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise PublishError(f"{where}: missing or empty string {key!r}")

    properties = entry.get("properties", {})
    if not isinstance(properties, dict) or set(properties) - set(_PROPERTY_NAMES):
        raise PublishError(f"{where}: 'properties' may only set {list(_PROPERTY_NAMES)}")

    if "body_base64" in entry:
        try:
            body = base64.b64decode(entry["body_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError) as error:
            raise PublishError(f"{where}: invalid body_base64: {error}") from None
        defaults: dict[str, str | None] = {"content_type": "application/octet-stream", "content_encoding": None}
    elif "body" in entry:
        body = json.dumps(entry["body"], separators=(",", ":")).encode("utf-8")
        defaults = {"content_type": "application/json", "content_encoding": "utf-8"}
    else:
        raise PublishError(f"{where}: needs 'body' or 'body_base64'")

    return OutgoingMessage(
        exchange=entry["exchange"],
        routing_key=entry["routing_key"],
        body=body,
        content_type=properties.get("content_type", defaults["content_type"]),
        content_encoding=properties.get("content_encoding", defaults["content_encoding"]),
        message_id=properties.get("message_id"),
    )


def _load_json(data: bytes, where: str) -> Any:
    """Parse JSON, naming the file and line in the error."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PublishError(f"{where}: invalid JSON: {error}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="pulse-publish",
        description="Publish messages to Pulse (AMQP) exchanges and wait for the broker's publisher confirms.",
        usage="pulse-publish [--exchange NAME] ROUTING_KEY URL PAYLOAD_FILE\n       pulse-publish --from FILE_OR_DIR URL",
    )
    parser.add_argument(
        "arguments",
        nargs="+",
        metavar="ARG",
        help="ROUTING_KEY URL PAYLOAD_FILE, or URL with --from; URL is the AMQP URL, such as $PULSE_URL",
    )
    parser.add_argument("--exchange", help="exchange of the single-payload mode (default: exchange/<user>/jobs)")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="JSON-lines file or folder of JSON files, one {exchange, routing_key, body|body_base64} per message",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Publish and print a one-line summary; exit 0 only when every message was confirmed and routed."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)

    try:
        messages, url = _messages_from_args(args)
        result = publish_messages(url, messages)
    except (ConfigurationError, PublishError) as error:
        print(f"pulse-publish: {mask_url(str(error))}", file=sys.stderr)
        return 2
    except (OSError, amqp.exceptions.AMQPError) as error:
        print(f"pulse-publish: publishing failed: {mask_url(str(error))}", file=sys.stderr)
        return 1

    print(
        f"published {result.published} messages to {url.masked()}: "
        f"{result.nacked} rejected by the broker, {result.returned} unroutable"
    )
    return 0 if result.nacked == 0 and result.returned == 0 else 1


def _messages_from_args(args: argparse.Namespace) -> tuple[Iterable[OutgoingMessage], PulseUrl]:
    """Return the messages and broker URL that the command line selects."""
    if args.source is not None:
        if len(args.arguments) != 1:
            raise PublishError("with --from, give only the URL")
        url = parse_pulse_url(args.arguments[0], "URL")
        return list(read_entries(args.source)), url

    if len(args.arguments) != 3:
        raise PublishError("expected ROUTING_KEY URL PAYLOAD_FILE")
    routing_key, raw_url, payload_file = args.arguments
    url = parse_pulse_url(raw_url, "URL")

    try:
        payload = Path(payload_file).read_bytes()
    except OSError as error:
        raise PublishError(f"cannot read {payload_file}: {error.strerror}") from None
    _load_json(payload, payload_file)

    exchange = args.exchange or f"exchange/{url.user}/jobs"
    return [OutgoingMessage(exchange=exchange, routing_key=routing_key, body=payload)], url


if __name__ == "__main__":
    sys.exit(main())

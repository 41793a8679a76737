"""A small JSON file per queue that remembers which bindings the bridge created.

Neither Pulse nor the local broker exposes the management API to the bridge, so it
cannot list a queue's bindings. Instead it stores the set it bound last time under
``BRIDGE_DATA_DIR`` and, on the next start, unbinds the pairs that are no longer
configured. The file is written atomically (temporary file, then rename).

NOTE: bindings made before the first run with a given data folder, or by another
machine, are not in the file and so are never pruned.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from bridge.sources import Binding

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BindingStore:
    """Reads and writes the remembered bindings of one queue on one broker."""

    def __init__(self, data_dir: Path, host: str, port: int, vhost: str, queue: str) -> None:
        name = _UNSAFE.sub("_", f"{host}_{port}_{vhost}_{queue}").strip("_")
        self.path = data_dir / "bindings" / f"{name}.json"
        self._queue = queue
        self._vhost = vhost

    def load(self) -> frozenset[Binding]:
        """Return the remembered bindings, or an empty set when the file is missing or unreadable."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            pairs = document["bindings"]
            return frozenset(Binding(str(exchange), str(key)) for exchange, key in pairs)
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("ignoring unreadable binding state file %s: %s", self.path, error)
            return frozenset()

    def save(self, bindings: frozenset[Binding]) -> None:
        """Replace the remembered bindings."""
        document = {
            "queue": self._queue,
            "vhost": self._vhost,
            "bindings": [[binding.exchange, binding.routing_key] for binding in sorted(bindings)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)

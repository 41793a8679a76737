"""Mode service that opens the lookup client's HTTP session with the worker and closes it on stop."""

from __future__ import annotations

from typing import Any

from mode import Service

from streams.lookups.client import LookupClient


class LookupService(Service):
    """Starts ``client`` with the service it is a dependency of, and stops it afterwards."""

    def __init__(self, client: LookupClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    async def on_start(self) -> None:
        """Open the HTTP session."""
        await self.client.start()

    async def on_stop(self) -> None:
        """Close the HTTP session."""
        await self.client.stop()

"""LookupClient: one aiohttp session with timeouts, retries, an LRU cache and Link pagination."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from streams.lookups.backoff import retry_delay
from streams.lookups.cache import LruCache
from streams.lookups.errors import TransientLookupError, lookup_failed
from streams.lookups.settings import LookupSettings

logger = logging.getLogger(__name__)

USER_AGENT = "pulse-ingest"


@dataclass(frozen=True)
class LookupResponse:
    """Decoded JSON body of a successful response and its ``rel="next"`` link, if any."""

    url: str
    status: int
    body: Any
    next_url: str | None


class LookupClient:
    """Service that performs GET lookups returning JSON.

    ``start`` opens the aiohttp session and ``stop`` closes it; ``async with`` does both.
    Each request has its own timeout. Timeouts, connection errors and HTTP 429 or 5xx are
    retried with backoff up to ``settings.retries`` times, then raise RejectedMessage with
    LOOKUP_FAILED. Other HTTP statuses and bodies that are not JSON raise LOOKUP_FAILED at once.
    The ``what`` argument of each method names the lookup (for example "task definition") in
    logs and errors.
    """

    def __init__(self, settings: LookupSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.cache = LruCache(settings.cache_size)
        self.requests_sent = 0
        self.cache_hits = 0
        self._rng = rng if rng is not None else random.Random()
        self._session: aiohttp.ClientSession | None = None

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return self._session is not None

    async def start(self) -> None:
        """Open the HTTP session; calling it again while running does nothing."""
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        logger.info(
            "lookup client started (timeout %.1f s, %d retries, cache size %d)",
            self.settings.timeout,
            self.settings.retries,
            self.settings.cache_size,
        )

    async def stop(self) -> None:
        """Close the HTTP session; calling it when stopped does nothing."""
        session, self._session = self._session, None
        if session is None:
            return
        await session.close()
        logger.info(
            "lookup client stopped after %d requests and %d cache hits",
            self.requests_sent,
            self.cache_hits,
        )

    async def __aenter__(self) -> LookupClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def get_json(
        self, url: str, *, what: str, cache: bool = True, github: bool = False
    ) -> Any:
        """Return the decoded JSON at ``url``.

        With ``cache`` the response is served from, and stored in, the LRU cache; use it only
        for responses that cannot change. With ``github`` the request carries GITHUB_TOKEN.
        """
        if cache:
            hit, value = self.cache.get(url)
            if hit:
                self.cache_hits += 1
                logger.debug("%s lookup of %s served from the cache", what, url)
                return value

        response = await self.get_response(url, what=what, github=github)

        if cache:
            self.cache.put(url, response.body)
        return response.body

    async def get_json_pages(self, url: str, *, what: str, github: bool = False) -> list[Any]:
        """Follow ``rel="next"`` Link headers from ``url`` and join the pages, each a JSON list.

        Never cached, because a listing such as a pull request's commits can grow. Raises
        LOOKUP_FAILED when a page is not a list, when a next link leaves the first URL's
        origin (the GitHub token must not go elsewhere), or after ``settings.max_pages``.
        """
        items: list[Any] = []
        origin = _origin(url)
        next_url: str | None = url
        pages = 0

        while next_url is not None:
            if pages == self.settings.max_pages:
                raise lookup_failed(
                    what, url, f"more than {self.settings.max_pages} pages (LOOKUP_MAX_PAGES)"
                )
            if _origin(next_url) != origin:
                raise lookup_failed(what, next_url, f"next page link leaves {origin}")

            response = await self.get_response(next_url, what=what, github=github)
            pages += 1

            if not isinstance(response.body, list):
                raise lookup_failed(
                    what,
                    next_url,
                    f"expected a JSON list, got {type(response.body).__name__}",
                    response.status,
                )
            items.extend(response.body)
            next_url = response.next_url

        return items

    async def get_response(self, url: str, *, what: str, github: bool = False) -> LookupResponse:
        """GET ``url`` with retries and return the decoded response (no cache)."""
        attempts = self.settings.retries + 1

        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(url, what, github)
            except TransientLookupError as error:
                if attempt == attempts:
                    logger.error(
                        "%s lookup of %s failed after %d attempts: %s",
                        what,
                        url,
                        attempts,
                        error.problem,
                    )
                    raise lookup_failed(
                        what, url, f"{error.problem} (after {attempts} attempts)", error.status,
                        attempts=attempts,
                    ) from None

                delay = retry_delay(
                    attempt, self.settings.backoff_initial, self.settings.backoff_max, self._rng
                )
                logger.warning(
                    "%s lookup of %s failed (attempt %d of %d): %s; retrying in %.2f s",
                    what,
                    url,
                    attempt,
                    attempts,
                    error.problem,
                    delay,
                )
                await asyncio.sleep(delay)

        raise AssertionError("unreachable: the loop returns or raises")

    async def _attempt(self, url: str, what: str, github: bool) -> LookupResponse:
        if self._session is None:
            raise RuntimeError("LookupClient is not started; call start() first")

        headers = {"Accept": "application/json"}
        if github and self.settings.github_token:
            headers["Authorization"] = f"Bearer {self.settings.github_token}"

        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        self.requests_sent += 1

        # Only the URL, status and error text are reported: aiohttp's reprs of responses and
        # requests include the request headers, which may hold the GitHub token.
        try:
            async with self._session.get(url, headers=headers, timeout=timeout) as response:
                status = response.status
                if status == 429 or status >= 500:
                    raise TransientLookupError(url, status, f"HTTP {status}")
                if status != 200:
                    raise lookup_failed(what, url, f"HTTP {status}", status)

                raw = await response.read()
                next_link = response.links.get("next")
                next_url = str(next_link["url"]) if next_link and "url" in next_link else None
        except TimeoutError:
            raise TransientLookupError(
                url, None, f"timed out after {self.settings.timeout} s"
            ) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise TransientLookupError(url, None, f"{type(error).__name__}: {error}") from None
        except aiohttp.ClientResponseError as error:
            raise lookup_failed(what, url, f"{type(error).__name__}: {error.message}", error.status)

        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning("%s lookup of %s returned a malformed body: %s", what, url, error)
            raise lookup_failed(what, url, f"response is not valid JSON: {error}", status) from None

        return LookupResponse(url=url, status=status, body=body, next_url=next_url)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc

"""Errors of the database sink and the mapping of driver errors to RetriableError."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError

from streams.errors import RejectedMessage, RejectReason, RetriableError
from streams.sinks.database.config import mask_secret, mask_url

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATE classes that describe a transient condition: connection exception (08),
# transaction rollback such as deadlock or serialization failure (40), insufficient
# resources (53) and operator intervention such as an admin shutdown (57).
RETRIABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})

# Errors that asyncpg raises outside SQLAlchemy's wrapping, for example while connecting.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class MissingPushError(RejectedMessage):
    """Job records reference pushes that are not in the database."""

    def __init__(self, missing: Iterable[tuple[str, str]]) -> None:
        self.missing = sorted(set(missing))
        listed = ", ".join(f"{repository}/{revision}" for repository, revision in self.missing)
        super().__init__(RejectReason.MISSING_PUSH, f"no push in the database for {listed}")


class UnknownRepositoryError(RejectedMessage):
    """Records name repositories that are not in the `repository` table."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(
            RejectReason.UNKNOWN_REPOSITORY,
            f"repository not in the database: {', '.join(self.names)}; "
            "write it with ensure_repositories first",
        )


class DatabaseUnavailableError(RetriableError):
    """The database could not be reached or aborted the transaction, so the write may be retried."""

    def __init__(self, operation: str, masked_url: str, cause: BaseException, detail: str) -> None:
        super().__init__(f"database {operation} on {masked_url} failed: {detail}")
        self.operation = operation
        self.masked_url = masked_url
        self.cause_type = type(cause).__name__


def is_retriable(exc: BaseException) -> bool:
    """Tell whether a database error is a transient infrastructure fault."""
    if isinstance(exc, OperationalError):
        return True

    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = _sqlstate(exc.orig)
        if sqlstate is not None and sqlstate[:2] in RETRIABLE_SQLSTATE_CLASSES:
            return True
        return isinstance(exc.orig, _CONNECTION_ERRORS) or isinstance(
            exc.orig.__cause__ if exc.orig is not None else None, _CONNECTION_ERRORS
        )

    return isinstance(exc, _CONNECTION_ERRORS)


@contextmanager
def wrap_database_errors(url: str, operation: str) -> Iterator[None]:
    """Re-raise transient database errors as DatabaseUnavailableError with a masked URL."""
    try:
        yield
    except (DBAPIError, *_CONNECTION_ERRORS) as exc:
        if not is_retriable(exc):
            raise
        detail = mask_secret(f"{type(exc).__name__}: {_first_line(exc)}", url)
        raise DatabaseUnavailableError(operation, mask_url(url), exc, detail) from exc


def _sqlstate(orig: BaseException | None) -> str | None:
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the SQL text and parameters after the first line, so only that line is kept.
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else repr(exc)

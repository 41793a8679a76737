"""Errors of the database sink and the mapping of driver errors to RetriableError."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from streams.errors import RejectedMessage, RejectReason, RetriableError
from streams.sinks.database.config import mask_secret, mask_url

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATE classes that describe a transient condition: connection exception (08),
# transaction rollback such as deadlock or serialization failure (40), insufficient
# resources (53) and operator intervention such as an admin shutdown (57).
RETRIABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})

# PostgreSQL SQLSTATE classes of a value the database rejects: data exception (22) and
# integrity constraint violation (23).
INVALID_VALUE_SQLSTATE_CLASSES = frozenset({"22", "23"})

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


class InvalidRecordError(RejectedMessage):
    """The database rejected a value of the records, for example a constraint or a type failed."""

    def __init__(self, operation: str, cause: BaseException, detail: str) -> None:
        super().__init__(
            RejectReason.DATABASE_REJECTED,
            f"database {operation} rejected the records: {detail}",
            detail={"operation": operation, "exception": _root_name(cause)},
        )
        self.operation = operation


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
    """Re-raise database errors as typed errors with a masked URL.

    Transient errors become DatabaseUnavailableError (retriable). IntegrityError and
    DataError, which a bad value causes and a retry repeats, become InvalidRecordError
    (rejected). Other errors propagate unchanged.
    """
    try:
        yield
    except (DBAPIError, *_CONNECTION_ERRORS) as exc:
        detail = mask_secret(f"{type(exc).__name__}: {_first_line(exc)}", url)
        if is_retriable(exc):
            raise DatabaseUnavailableError(operation, mask_url(url), exc, detail) from exc
        if is_invalid_value(exc):
            raise InvalidRecordError(operation, exc, detail) from exc
        raise


def is_invalid_value(exc: BaseException) -> bool:
    """Tell whether the database rejected a value of the records, so a retry fails the same way.

    That is an IntegrityError or DataError, a SQLSTATE of class 22 (data exception) or 23
    (integrity constraint violation), or asyncpg's DataError for a parameter it cannot
    encode, which SQLAlchemy reports as a plain DBAPIError.
    """
    if isinstance(exc, (IntegrityError, DataError)):
        return True
    if not isinstance(exc, DBAPIError):
        return False

    sqlstate = _sqlstate(exc.orig)
    if sqlstate is not None and sqlstate[:2] in INVALID_VALUE_SQLSTATE_CLASSES:
        return True
    causes = (exc.orig, getattr(exc.orig, "__cause__", None))
    return any(isinstance(cause, asyncpg.exceptions.DataError) for cause in causes)


def _sqlstate(orig: BaseException | None) -> str | None:
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _root_name(exc: BaseException) -> str:
    """Return the class name of the driver error behind a SQLAlchemy error."""
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None)
    return type(cause or orig or exc).__name__


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the SQL text and parameters after the first line, so only that line is kept.
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else repr(exc)

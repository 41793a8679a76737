"""SQLAlchemy Core tables of the ingestion database, portable across PostgreSQL and SQLite."""

from __future__ import annotations

import datetime
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Constraint names are fixed by convention so the migration and both dialects agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Column lengths that Treeherder enforces. The writer truncates values to fit them.
GUID_LENGTH = 50
WHO_LENGTH = 50
REASON_LENGTH = 125
STATE_LENGTH = 25
RESULT_LENGTH = 25
LOG_NAME_LENGTH = 50
LOG_URL_LENGTH = 255
REVISION_LENGTH = 40

# SQLite only auto-increments an `INTEGER PRIMARY KEY`, so the 64-bit ids become INTEGER there.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """Timezone-aware timestamp stored in UTC, also on SQLite, which has no time zone type."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(datetime.UTC)

        # SQLite has no time zone type, so it stores the UTC wall time without an offset.
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


repository = Table(
    "repository",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("dvcs_type", String(25), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("tc_root_url", Text, nullable=False),
)

push = Table(
    "push",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repository_id", Id, ForeignKey("repository.id"), nullable=False),
    Column("revision", String(REVISION_LENGTH), nullable=False),
    Column("author", Text, nullable=False),
    Column("push_timestamp", UTCDateTime, nullable=False),
    # Set only when the repository matched the push through a wildcard branch rule.
    Column("branch", Text, nullable=True),
    # False until the commit list was looked up. Once true, `commit` has the push's revisions.
    Column("enriched", Boolean, nullable=False),
    # `hg`, `github-push` or `github-pull-request`.
    Column("kind", String(32), nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    UniqueConstraint("repository_id", "revision"),
    # Serves "pushes of a repository, newest first".
    Index(None, "repository_id", "push_timestamp"),
)

commit = Table(
    "commit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("push_id", Id, ForeignKey("push.id"), nullable=False),
    Column("revision", String(REVISION_LENGTH), nullable=False),
    Column("author", Text, nullable=False),
    Column("comment", Text, nullable=False),
    UniqueConstraint("push_id", "revision"),
)

job = Table(
    "job",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("guid", String(GUID_LENGTH), nullable=False, unique=True),
    Column("repository_id", Id, ForeignKey("repository.id"), nullable=False),
    Column("push_id", Id, ForeignKey("push.id"), nullable=False),
    Column("build_platform", Text, nullable=False),
    Column("build_os", Text, nullable=False),
    Column("build_architecture", Text, nullable=False),
    Column("machine_platform", Text, nullable=False),
    Column("machine_os", Text, nullable=False),
    Column("machine_architecture", Text, nullable=False),
    Column("machine", Text, nullable=False),
    # Labels of the option collection whose value is true, sorted and joined by one space.
    Column("option_collection", Text, nullable=False),
    Column("job_type_name", Text, nullable=False),
    Column("job_type_symbol", Text, nullable=False),
    Column("job_group_name", Text, nullable=False),
    Column("job_group_symbol", Text, nullable=False),
    Column("product_name", Text, nullable=False),
    Column("build_system_type", Text, nullable=False),
    # unscheduled, pending, running or completed. The writer only ever moves it forward.
    Column("state", String(STATE_LENGTH), nullable=False),
    Column("result", String(RESULT_LENGTH), nullable=False),
    Column("tier", Integer, nullable=False),
    # A timestamp missing from the record is stored as the epoch, 1970-01-01T00:00:00Z.
    Column("submit_time", UTCDateTime, nullable=False),
    Column("start_time", UTCDateTime, nullable=False),
    Column("end_time", UTCDateTime, nullable=False),
    Column("who", String(WHO_LENGTH), nullable=False),
    Column("reason", String(REASON_LENGTH), nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    # Serves "jobs of a push".
    Index(None, "push_id"),
)

job_log = Table(
    "job_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job_id", Id, ForeignKey("job.id"), nullable=False),
    Column("name", String(LOG_NAME_LENGTH), nullable=False),
    Column("url", String(LOG_URL_LENGTH), nullable=False),
    Column("parse_status", String(25), nullable=False),
    UniqueConstraint("job_id", "name", "url"),
)

taskcluster_metadata = Table(
    "taskcluster_metadata",
    metadata,
    Column("job_id", Id, ForeignKey("job.id"), primary_key=True, autoincrement=False),
    # Taskcluster task id in its 22-character slug form.
    Column("task_id", String(22), nullable=False),
    Column("retry_id", Integer, nullable=False),
    Index(None, "task_id"),
)

ALL_TABLES = (repository, push, commit, job, job_log, taskcluster_metadata)

"""Create the repository, push, commit, job, job_log and taskcluster_metadata tables.

Revision ID: 0001
Revises:
Create Date: 2026-08-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same id type as models.py: BIGINT, except INTEGER on SQLite so it auto-increments.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "repository",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("dvcs_type", sa.String(25), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tc_root_url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repository"),
        sa.UniqueConstraint("name", name="uq_repository_name"),
    )

    op.create_table(
        "push",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("repository_id", Id, nullable=False),
        sa.Column("revision", sa.String(40), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("push_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.Column("enriched", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push"),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repository.id"], name="fk_push_repository_id_repository"
        ),
        sa.UniqueConstraint("repository_id", "revision", name="uq_push_repository_id_revision"),
    )
    op.create_index(
        "ix_push_repository_id_push_timestamp", "push", ["repository_id", "push_timestamp"]
    )

    op.create_table(
        "commit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("push_id", Id, nullable=False),
        sa.Column("revision", sa.String(40), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_commit"),
        sa.ForeignKeyConstraint(["push_id"], ["push.id"], name="fk_commit_push_id_push"),
        sa.UniqueConstraint("push_id", "revision", name="uq_commit_push_id_revision"),
    )

    op.create_table(
        "job",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("guid", sa.String(50), nullable=False),
        sa.Column("repository_id", Id, nullable=False),
        sa.Column("push_id", Id, nullable=False),
        sa.Column("build_platform", sa.Text(), nullable=False),
        sa.Column("build_os", sa.Text(), nullable=False),
        sa.Column("build_architecture", sa.Text(), nullable=False),
        sa.Column("machine_platform", sa.Text(), nullable=False),
        sa.Column("machine_os", sa.Text(), nullable=False),
        sa.Column("machine_architecture", sa.Text(), nullable=False),
        sa.Column("machine", sa.Text(), nullable=False),
        sa.Column("option_collection", sa.Text(), nullable=False),
        sa.Column("job_type_name", sa.Text(), nullable=False),
        sa.Column("job_type_symbol", sa.Text(), nullable=False),
        sa.Column("job_group_name", sa.Text(), nullable=False),
        sa.Column("job_group_symbol", sa.Text(), nullable=False),
        sa.Column("product_name", sa.Text(), nullable=False),
        sa.Column("build_system_type", sa.Text(), nullable=False),
        sa.Column("state", sa.String(25), nullable=False),
        sa.Column("result", sa.String(25), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("submit_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(50), nullable=False),
        sa.Column("reason", sa.String(125), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job"),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repository.id"], name="fk_job_repository_id_repository"
        ),
        sa.ForeignKeyConstraint(["push_id"], ["push.id"], name="fk_job_push_id_push"),
        sa.UniqueConstraint("guid", name="uq_job_guid"),
    )
    op.create_index("ix_job_push_id", "job", ["push_id"])

    op.create_table(
        "job_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("job_id", Id, nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("parse_status", sa.String(25), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_log"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name="fk_job_log_job_id_job"),
        sa.UniqueConstraint("job_id", "name", "url", name="uq_job_log_job_id_name_url"),
    )

    op.create_table(
        "taskcluster_metadata",
        sa.Column("job_id", Id, nullable=False, autoincrement=False),
        sa.Column("task_id", sa.String(22), nullable=False),
        sa.Column("retry_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_taskcluster_metadata"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name="fk_taskcluster_metadata_job_id_job"
        ),
    )
    op.create_index("ix_taskcluster_metadata_task_id", "taskcluster_metadata", ["task_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_taskcluster_metadata_task_id", table_name="taskcluster_metadata")
    op.drop_table("taskcluster_metadata")
    op.drop_table("job_log")
    op.drop_index("ix_job_push_id", table_name="job")
    op.drop_table("job")
    op.drop_table("commit")
    op.drop_index("ix_push_repository_id_push_timestamp", table_name="push")
    op.drop_table("push")
    op.drop_table("repository")

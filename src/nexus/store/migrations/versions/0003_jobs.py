"""Jobs on a queue: idempotency, priority, delays, leases, dispatch; process instances; named leases;
work orders carry their instance, job and answer.

Revision ID: 0003
Revises: 0007_agents
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0007_agents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite rebuilds the table (run_at becomes NOT NULL after the backfill); PostgreSQL ALTERs.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("max_attempts", sa.Integer(), server_default="5", nullable=False))
        batch.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("run_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE jobs SET run_at = created_at")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("run_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_jobs_due", "jobs", ["status", "run_at"], unique=False)
    op.create_index("ix_jobs_lease", "jobs", ["status", "lease_expires_at"], unique=False)
    op.create_index("uq_jobs_idempotency", "jobs", ["tenant_id", "idempotency_key"], unique=True)

    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instances_lease", "instances", ["lease_expires_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("instance_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("job_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("answer")
        batch.drop_column("job_id")
        batch.drop_column("instance_id")
    op.drop_table("leases")
    op.drop_index("ix_instances_lease", table_name="instances")
    op.drop_table("instances")
    op.drop_index("uq_jobs_idempotency", table_name="jobs")
    op.drop_index("ix_jobs_lease", table_name="jobs")
    op.drop_index("ix_jobs_due", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for name in (
            "dispatched_at",
            "lease_expires_at",
            "lease_owner",
            "run_at",
            "idempotency_key",
            "priority",
            "max_attempts",
        ):
            batch.drop_column(name)

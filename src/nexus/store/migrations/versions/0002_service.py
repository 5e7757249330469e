"""Service layer: the door a work order came through; a tenant's guard policy overrides.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("door", sa.String(length=32), nullable=True))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("guard_policy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("guard_policy")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("door")

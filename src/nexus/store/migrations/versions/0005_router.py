"""Router on live traffic: feedback, per-tenant router versions and settings (A/B arms, cache opt-in),
the routing record of routed work orders, the semantic cache.

Revision ID: 0005_router
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_router"
down_revision = "0006"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False)


def upgrade() -> None:
    op.create_table(
        "router_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _tenant(),
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_router_feedback_tenant_created", "router_feedback", ["tenant_id", "created_at"])
    op.create_index("ix_router_feedback_work_order", "router_feedback", ["work_order_id"])
    op.create_table(
        "router_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _tenant(),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("feedback_count", sa.Integer(), nullable=False),
        sa.Column("artefact", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_router_versions_tenant_status", "router_versions", ["tenant_id", "status"])
    op.create_table(
        "router_settings",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("arms", sa.JSON(), nullable=False),
        sa.Column("cache_enabled", sa.Boolean(), nullable=False),
        sa.Column("cache_threshold", sa.Float(), nullable=True),
        sa.Column("cache_ttl_s", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "router_turns",
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        _tenant(),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("propensity", sa.Float(), nullable=True),
        sa.Column("cache", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("work_order_id"),
    )
    op.create_index("ix_router_turns_tenant_created", "router_turns", ["tenant_id", "created_at"])
    op.create_table(
        "semantic_cache",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _tenant(),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_semantic_cache_tenant_key", "semantic_cache", ["tenant_id", "key", "created_at"])
    op.create_index("ix_semantic_cache_exact", "semantic_cache", ["tenant_id", "key", "prompt_hash"])


def downgrade() -> None:
    op.drop_index("ix_semantic_cache_exact", table_name="semantic_cache")
    op.drop_index("ix_semantic_cache_tenant_key", table_name="semantic_cache")
    op.drop_table("semantic_cache")
    op.drop_index("ix_router_turns_tenant_created", table_name="router_turns")
    op.drop_table("router_turns")
    op.drop_table("router_settings")
    op.drop_index("ix_router_versions_tenant_status", table_name="router_versions")
    op.drop_table("router_versions")
    op.drop_index("ix_router_feedback_work_order", table_name="router_feedback")
    op.drop_index("ix_router_feedback_tenant_created", table_name="router_feedback")
    op.drop_table("router_feedback")

"""Tables of the router on live traffic: feedback, per-tenant router versions, per-tenant routing
settings (A/B arms, semantic cache opt-in), the routing record of each routed work order, and the
semantic cache's entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nexus.store.models import Base, UTCDateTime, _tenant, utcnow


class RouterFeedback(Base):
    """One rating of one answer: score 1.0 (thumbs up) … 0.0 (thumbs down)."""

    __tablename__ = "router_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    work_order_id: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    score: Mapped[float] = mapped_column(Float, nullable=False)
    label: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    # What was rated: the routed prompt and the model that answered (copied when the rating arrives).
    prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))
    arm: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (
        Index("ix_router_feedback_tenant_created", "tenant_id", "created_at"),
        Index("ix_router_feedback_work_order", "work_order_id"),
    )


class RouterVersion(Base):
    """A tenant's feedback model: `candidate` after a retrain, `promoted` (serving), or `retired`."""

    __tablename__ = "router_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="candidate")
    feedback_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    artefact: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_router_versions_tenant_status", "tenant_id", "status"),)


class RouterSettings(Base):
    """Per-tenant routing settings: A/B arms [{name, weight, cost_lambda?}] and the semantic cache."""

    __tablename__ = "router_settings"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    cache_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    cache_threshold: Mapped[float | None] = mapped_column(Float)
    cache_ttl_s: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RoutedTurn(Base):
    """What a routed work order was routed on: its prompt, its A/B arm and that arm's propensity."""

    __tablename__ = "router_turns"
    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    session_id: Mapped[str | None] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text, nullable=False, default="")
    arm: Mapped[str | None] = mapped_column(String(64))
    propensity: Mapped[float | None] = mapped_column(Float)
    cache: Mapped[str | None] = mapped_column(String(8))  # hit | miss | bypass | None (cache off)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_router_turns_tenant_created", "tenant_id", "created_at"),)


class CacheEntry(Base):
    """One cached answer: namespaced by tenant and by `key` (model, system prompt, history, parameters);
    `vector` is the user turn's embedding (float32) for the similarity match."""

    __tablename__ = "semantic_cache"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    prompt_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # exact matches, any age
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    __table_args__ = (
        Index("ix_semantic_cache_tenant_key", "tenant_id", "key", "created_at"),
        Index("ix_semantic_cache_exact", "tenant_id", "key", "prompt_hash"),
    )

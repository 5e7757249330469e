"""Documents (RAG): collections per tenant and the files ingested into them.

Chunk text and the indexes live in the lexical index and the vector store (nexus.rag); these rows are
the catalogue and the ingestion status the doors report (`in_progress → completed | failed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nexus.store.models import Base, UTCDateTime, _tenant, utcnow


class RagCollection(Base):
    __tablename__ = "rag_collections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The embedder that built the vectors: a collection never mixes vector spaces.
    embedder: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    dim: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_rag_collections_tenant_name", "tenant_id", "name"),)


class RagFile(Base):
    """status: in_progress → completed | failed (error_code + error say why)."""

    __tablename__ = "rag_files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    collection_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("rag_collections.id", ondelete="CASCADE"), nullable=False
    )
    filename: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    kind: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="in_progress")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (
        # Content-hash deduplication per collection: the same bytes twice are one file.
        UniqueConstraint("collection_id", "content_hash", name="uq_rag_files_collection_hash"),
        Index("ix_rag_files_tenant_collection", "tenant_id", "collection_id", "created_at"),
    )

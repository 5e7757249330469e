"""Tables of the FAQ product line: fine-tuning jobs and the models they register, FAQ documents and
pairs, smart agents and their leads (one row per agent conversation, accumulated message by message)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nexus.store.models import Base, UTCDateTime, _tenant, utcnow


class FineTune(Base):
    """One fine-tuning job. status: pending → validating_files → queued → running → succeeded | failed |
    cancelled (the provider's states; `pending` is ours, before the provider has the job)."""

    __tablename__ = "fine_tunes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    base_model: Mapped[str] = mapped_column(String(128), nullable=False)  # a catalogue id
    suffix: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    job_id: Mapped[str | None] = mapped_column(String(64))  # the nexus.jobs job driving it now
    provider_job_id: Mapped[str | None] = mapped_column(String(128))
    training_file_id: Mapped[str | None] = mapped_column(String(128))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(256))  # the provider's model name
    registered_model: Mapped[str | None] = mapped_column(String(256))  # our catalogue id
    examples: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    polls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    dataset: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_fine_tunes_tenant_created", "tenant_id", "created_at"),)


class TenantModel(Base):
    """A model registered for one tenant (a fine-tuned model): a catalogue entry only that tenant sees."""

    __tablename__ = "tenant_models"
    id: Mapped[str] = mapped_column(String(256), primary_key=True)  # the catalogue id
    tenant_id: Mapped[str] = _tenant()
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    source: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # e.g. the fine-tune id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class FaqDocument(Base):
    """An uploaded document whose FAQs are extracted by a job. status: queued → running → done | failed."""

    __tablename__ = "faq_documents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    filename: Mapped[str] = mapped_column(String(256), nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    job_id: Mapped[str | None] = mapped_column(String(64))
    done_chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class FaqPair(Base):
    """One question and its answer, with where it came from (a document and chunk, or given inline)."""

    __tablename__ = "faq_pairs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    document_id: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (
        Index("ix_faq_pairs_tenant_document", "tenant_id", "document_id"),
        Index("ix_faq_pairs_tenant_agent", "tenant_id", "agent_id"),
    )


class SmartAgent(Base):
    """A tenant's customer-facing agent: a system prompt and its FAQ pairs (faq_pairs.agent_id)."""

    __tablename__ = "smart_agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    system_prompt: Mapped[str] = mapped_column(Text, nullable=False, default="")
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_smart_agents_tenant_name"),)


class Lead(Base):
    """One conversation with a smart agent: its history and the lead gathered from it so far."""

    __tablename__ = "leads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    agent_id: Mapped[str] = mapped_column(String(64), nullable=False)
    session_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    company: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(64))
    history: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    messages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (UniqueConstraint("tenant_id", "agent_id", "session_id", name="uq_leads_conversation"),)

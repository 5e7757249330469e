"""Background jobs (nexus.jobs), the lease of each running process, and named leases (single scheduler).

A job row is the job's durable truth; the broker message only says "look at job <id>". The idempotency
key is unique per tenant, and a job becomes `done` in the same transaction as its effect, so a redelivered
message never repeats a committed effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nexus.store.models import Base, UTCDateTime, _tenant, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "dead")
JOB_ACTIVE = ("queued", "running")
JOB_FINISHED = ("done", "failed", "cancelled", "dead")
# The dead-letter store: out of attempts (dead) or failed for good (failed: retrying cannot help).
JOB_DEAD_LETTERS = ("dead", "failed")


class Job(Base):
    """status: queued → running → done | failed | cancelled | dead.

    failed: the handler said retrying cannot help (or no handler exists); dead: out of attempts (failures,
    timeouts, or workers lost mid-job). Both are the dead-letter store, with the reason in `error`.
    """

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=5, server_default="5")
    # Higher runs sooner (a separate stream lane with Redis; dispatch order in the database).
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Not before this time (delayed jobs, retry backoff).
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The instance running the job and until when; a live owner's heartbeat keeps pushing the expiry.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a broker message was last sent for it (NULL: due for dispatch once run_at passes).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        Index("ix_jobs_status", "status", "created_at"),
        Index("ix_jobs_tenant", "tenant_id"),
        Index("ix_jobs_due", "status", "run_at"),
        Index("ix_jobs_lease", "status", "lease_expires_at"),
        Index("uq_jobs_idempotency", "tenant_id", "idempotency_key", unique=True),
    )


class Instance(Base):
    """One running Nexus process (gateway, worker, scheduler) and its heartbeat lease."""

    __tablename__ = "instances"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    host: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    pid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_instances_lease", "lease_expires_at"),)


class Lease(Base):
    """A named lease (e.g. "scheduler"): one holder at a time until it expires or is renewed."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

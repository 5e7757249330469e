"""Tables of the Telegram door and the heartbeat (ops): chat state and check history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nexus.store.models import Base, UTCDateTime, _tenant, utcnow

# Heartbeat rows about the whole deployment (not one tenant's) carry this tenant id: it can never be a
# real tenant's (tenant ids are letters, digits, '.', '_' and '-'), and every admin may read them.
SYSTEM_ROWS = "*"


class TelegramChat(Base):
    """One Telegram chat's state for one tenant: its session, pinned model and last request."""

    __tablename__ = "telegram_chats"
    chat_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    last_request: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class HealthCheckRow(Base):
    """One result of one heartbeat check."""

    __tablename__ = "health_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # ok | warning | critical | skipped
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    latency_ms: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_health_checks_name_ts", "name", "ts"), Index("ix_health_checks_ts", "ts"))

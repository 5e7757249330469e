"""The audit log: who did what to which thing, with what outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from nexus.store.models import AuditEntry
from nexus.store.repos.base import Repository, clamp_limit


class Audit(Repository[AuditEntry]):
    model = AuditEntry
    kind = "audit entry"

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[AuditEntry]:
        stmt = self.select()
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if since:
            stmt = stmt.where(AuditEntry.ts >= since)
        if until:
            stmt = stmt.where(AuditEntry.ts < until)
        return await self.all(
            stmt.order_by(AuditEntry.ts.desc(), AuditEntry.id.desc()).limit(clamp_limit(limit))
        )

"""Telegram chat state and heartbeat history, tenant-scoped like every repository.

Heartbeat rows about the whole deployment carry SYSTEM_ROWS as their tenant: `scoped` lets every
admin read those next to its own tenant's (a budget near its limit is one tenant's row).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Select, func, select
from sqlalchemy.exc import IntegrityError

from nexus.store.models import utcnow
from nexus.store.models_ops import SYSTEM_ROWS, HealthCheckRow, TelegramChat
from nexus.store.repos.base import Repository, S, clamp_limit


class TelegramChats(Repository[TelegramChat]):
    model = TelegramChat
    kind = "Telegram chat"

    async def state(self, chat_id: int) -> TelegramChat | None:
        rows = await self.all(self.select().where(TelegramChat.chat_id == str(chat_id)))
        return rows[0] if rows else None

    async def save(self, chat_id: int, **values: Any) -> None:
        """Create or change the chat's row for the scope's tenant (session_id, model, last_request)."""
        values["updated_at"] = utcnow()
        where = self.update().where(TelegramChat.chat_id == str(chat_id))
        if await self.run(where.values(**values)):
            return
        try:
            await self.add(chat_id=str(chat_id), **values)
        except IntegrityError:  # created by a concurrent update of the same chat
            await self.run(where.values(**values))


class HealthChecks(Repository[HealthCheckRow]):
    model = HealthCheckRow
    kind = "health check"

    def scoped(self, stmt: S) -> S:
        if self.scope.is_global_admin:
            return stmt
        return stmt.where(HealthCheckRow.tenant_id.in_((self.scope.tenant_id, SYSTEM_ROWS)))

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store results: dicts of name, state, detail, latency_ms, data, ts and tenant_id (SYSTEM_ROWS
        when absent). Needs the system scope: the heartbeat writes for every tenant."""
        async with self._sessions() as s, s.begin():
            s.add_all(HealthCheckRow(**{"tenant_id": SYSTEM_ROWS, **r}) for r in rows)

    async def history(
        self,
        *,
        name: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[HealthCheckRow]:
        stmt: Select[Any] = self.select()
        if name:
            stmt = stmt.where(HealthCheckRow.name == name)
        if state:
            stmt = stmt.where(HealthCheckRow.state == state)
        if since:
            stmt = stmt.where(HealthCheckRow.ts >= since)
        return await self.all(
            stmt.order_by(HealthCheckRow.ts.desc(), HealthCheckRow.id.desc()).limit(clamp_limit(limit))
        )

    async def latest(self) -> Sequence[HealthCheckRow]:
        """The newest result of each check the scope may see."""
        newest = self.scoped(select(func.max(HealthCheckRow.id)).group_by(HealthCheckRow.name))
        return await self.all(
            select(HealthCheckRow).where(HealthCheckRow.id.in_(newest)).order_by(HealthCheckRow.name)
        )

    async def prune(self, before: datetime) -> int:
        stmt: Delete = self.delete().where(HealthCheckRow.ts < before)
        return await self.run(stmt)


__all__ = ["HealthChecks", "TelegramChats"]

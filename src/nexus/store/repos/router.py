"""Repositories of the router on live traffic (feedback, versions, settings, routed turns, the semantic
cache), tenant-scoped like every repository: built with `Repository.scoped`, no unscoped accessor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from nexus.store.models import utcnow
from nexus.store.models_router import CacheEntry, RoutedTurn, RouterFeedback, RouterSettings, RouterVersion
from nexus.store.repos.base import Repository, clamp_limit

# A retrain reads at most this many of a tenant's most recent ratings.
MAX_FEEDBACK = 5000


class Feedback(Repository[RouterFeedback]):
    model = RouterFeedback
    kind = "feedback"

    async def recent(self, limit: int = MAX_FEEDBACK) -> Sequence[RouterFeedback]:
        stmt = self.select().order_by(RouterFeedback.created_at.desc(), RouterFeedback.id.desc())
        return await self.all(stmt.limit(max(1, min(limit, MAX_FEEDBACK))))


class RouterVersions(Repository[RouterVersion]):
    model = RouterVersion
    kind = "router version"

    async def latest(self, tenant: str, status: str) -> RouterVersion | None:
        stmt = (
            self.select()
            .where(RouterVersion.tenant_id == tenant, RouterVersion.status == status)
            .order_by(RouterVersion.id.desc())
            .limit(1)
        )
        rows = await self.all(stmt)
        return rows[0] if rows else None

    async def promoted(self) -> Sequence[RouterVersion]:
        """Every serving version the scope can see (the system scope at start-up: all tenants')."""
        return await self.all(self.select().where(RouterVersion.status == "promoted"))

    async def list(self, tenant: str, limit: int = 20) -> Sequence[RouterVersion]:
        stmt = self.select().where(RouterVersion.tenant_id == tenant).order_by(RouterVersion.id.desc())
        return await self.all(stmt.limit(clamp_limit(limit)))

    async def promote(self, tenant: str, version_id: int) -> None:
        """`version_id` serves; the version serving before it is retired (one transaction)."""
        async with self._sessions() as s, s.begin():
            await s.execute(
                self.update()
                .where(RouterVersion.tenant_id == tenant, RouterVersion.status == "promoted")
                .values(status="retired")
            )
            await s.execute(
                self.update()
                .where(RouterVersion.tenant_id == tenant, RouterVersion.id == version_id)
                .values(status="promoted", promoted_at=utcnow())
            )


class RouterSettingsRepo(Repository[RouterSettings]):
    model = RouterSettings
    kind = "router settings"

    async def save(self, tenant: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        where = self.update().where(RouterSettings.tenant_id == tenant)
        if await self.run(where.values(**values)):
            return
        try:
            await self.add(tenant_id=tenant, **values)
        except IntegrityError:  # created concurrently
            await self.run(where.values(**values))


class RoutedTurns(Repository[RoutedTurn]):
    model = RoutedTurn
    kind = "routed turn"

    async def record(self, work_order_id: str, **values: Any) -> None:
        """Insert, or overwrite when the work order runs again (a queued order's retry)."""
        try:
            await self.add(work_order_id=work_order_id, **values)
        except IntegrityError:
            await self.run(self.update().where(RoutedTurn.work_order_id == work_order_id).values(**values))

    async def by_arm(self, since: datetime | None = None) -> dict[str, int]:
        stmt = self.select(RoutedTurn.arm, func.count()).group_by(RoutedTurn.arm)
        if since is not None:
            stmt = stmt.where(RoutedTurn.created_at >= since)
        return {str(arm): int(n) for arm, n in await self.rows(stmt)}


class CacheEntries(Repository[CacheEntry]):
    model = CacheEntry
    kind = "cache entry"

    async def candidates(self, key: str, now: datetime, limit: int) -> Sequence[CacheEntry]:
        """The freshest live entries of the scope's tenant under one key."""
        stmt = (
            self.select()
            .where(CacheEntry.key == key, CacheEntry.expires_at > now)
            .order_by(CacheEntry.created_at.desc())
            .limit(limit)
        )
        return await self.all(stmt)

    async def exact(self, key: str, prompt_hash: str, now: datetime) -> CacheEntry | None:
        stmt = (
            self.select()
            .where(CacheEntry.key == key, CacheEntry.prompt_hash == prompt_hash, CacheEntry.expires_at > now)
            .order_by(CacheEntry.created_at.desc())
            .limit(1)
        )
        rows = await self.all(stmt)
        return rows[0] if rows else None

    async def hit(self, entry_id: int) -> None:
        await self.run(self.update().where(CacheEntry.id == entry_id).values(hits=CacheEntry.hits + 1))

    async def trim(self, now: datetime, keep: int) -> int:
        """Drop the tenant's expired entries and all but its `keep` newest (memory stays bounded)."""
        n = await self.run(self.delete().where(CacheEntry.expires_at <= now))
        newest = self.select(CacheEntry.id).order_by(CacheEntry.id.desc()).offset(keep).limit(1)
        cut = await self.rows(newest)
        if cut:
            n += await self.run(self.delete().where(CacheEntry.id <= cut[0][0]))
        return n

    async def clear(self) -> int:
        return await self.run(self.delete())

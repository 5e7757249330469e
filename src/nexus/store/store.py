"""The Store: one engine, repositories per aggregate (each bound to a TenantScope), the accounting queue."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nexus.config.settings import Settings
from nexus.store import repos
from nexus.store.engine import connect, describe
from nexus.store.metrics import compute_metrics
from nexus.store.migrate import upgrade_engine
from nexus.store.prune import CheckpointPruner, PruneResult, prune
from nexus.store.queue import AccountingQueue
from nexus.store.scope import TenantScope

log = logging.getLogger("nexus.store")


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def where(self) -> str:
        """Human description of the database, without credentials."""
        return describe(self.engine.url.render_as_string(hide_password=False))

    # Repositories: always bound to the caller's scope; there is no unscoped accessor.
    def work_orders(self, scope: TenantScope) -> repos.WorkOrders:
        return repos.WorkOrders(self.sessions, scope)

    def model_calls(self, scope: TenantScope) -> repos.ModelCalls:
        return repos.ModelCalls(self.sessions, scope)

    def run_events(self, scope: TenantScope) -> repos.RunEvents:
        return repos.RunEvents(self.sessions, scope)

    def audit(self, scope: TenantScope) -> repos.Audit:
        return repos.Audit(self.sessions, scope)

    def chat_sessions(self, scope: TenantScope) -> repos.Sessions:
        return repos.Sessions(self.sessions, scope)

    def messages(self, scope: TenantScope) -> repos.Messages:
        return repos.Messages(self.sessions, scope)

    def tenants(self, scope: TenantScope) -> repos.Tenants:
        return repos.Tenants(self.sessions, scope)

    def api_keys(self, scope: TenantScope) -> repos.ApiKeys:
        return repos.ApiKeys(self.sessions, scope)

    def budgets(self, scope: TenantScope) -> repos.Budgets:
        return repos.Budgets(self.sessions, scope)

    def jobs(self, scope: TenantScope) -> repos.Jobs:
        return repos.Jobs(self.sessions, scope)

    # Process bookkeeping (not tenant data): instance leases and named leases.
    def instances(self) -> repos.Instances:
        return repos.Instances(self.sessions)

    def leases(self) -> repos.Leases:
        return repos.Leases(self.sessions)

    def accounting_queue(
        self, settings: Settings | None = None, *, maxsize: int | None = None, flush_s: float | None = None
    ) -> AccountingQueue:
        """Start the writer task (call inside the running loop, e.g. the app lifespan)."""
        s = settings or Settings()
        return AccountingQueue(
            self.sessions, maxsize=maxsize or s.accounting_queue_max, flush_s=flush_s or s.accounting_flush_s
        )

    async def ping(self) -> None:
        """One round trip to the database (readiness and health checks); raises when it is down."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def upgrade(self) -> None:
        await upgrade_engine(self.engine)

    async def mark_interrupted(self, before: datetime | None = None) -> int:
        """Work orders that dead processes (expired instance lease) left pending/running → failed,
        incomplete; rows naming no instance count as dead when created before `before` (default now)."""
        n = await self.work_orders(TenantScope.system()).mark_interrupted(before)
        if n:
            log.warning("marked %d interrupted work order(s) of dead processes as incomplete", n)
        return n

    async def prune(
        self,
        older_than_days: int,
        *,
        checkpoint_pruner: CheckpointPruner | None = None,
        now: datetime | None = None,
    ) -> PruneResult:
        return await prune(self.engine, older_than_days, checkpoint_pruner=checkpoint_pruner, now=now)

    async def metrics(self, scope: TenantScope, period: str = "24h") -> dict[str, Any]:
        return await compute_metrics(self.work_orders(scope), self.model_calls(scope), period)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(
    settings: Settings, *, migrate: bool = True, server_settings: dict[str, str] | None = None
) -> Store:
    """Connect (PostgreSQL unreachable → DatabaseUnreachable, or the opt-in SQLite fallback) and migrate."""
    engine = await connect(settings, server_settings=server_settings)
    store = Store(engine)
    if migrate:
        await store.upgrade()
    log.info("store ready: %s", store.where)
    return store

"""Tenants, their API keys (salted hashes only) and their budgets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import or_

from nexus.store.models import ApiKey, Budget, Tenant, utcnow
from nexus.store.repos.base import Repository

Period = Literal["day", "month"]
Metric = Literal["tokens", "cost"]


class Tenants(Repository[Tenant]):
    model = Tenant
    kind = "tenant"
    tenant_attr = "id"

    async def create(
        self, tenant_id: str, *, name: str = "", rpm: int | None = None, tpm: int | None = None
    ) -> Tenant:
        return await self.add(id=tenant_id, name=name or tenant_id, rpm=rpm, tpm=tpm)

    async def list(self) -> Sequence[Tenant]:
        return await self.all(self.select().order_by(Tenant.id))

    async def ensure(self, tenant_id: str) -> Tenant:
        return await self.find(tenant_id) or await self.create(tenant_id)


class ApiKeys(Repository[ApiKey]):
    model = ApiKey
    kind = "API key"

    async def create(
        self,
        *,
        name: str,
        role: str,
        key_hash: str,
        salt: str,
        prefix: str,
        rpm: int | None = None,
        tpm: int | None = None,
        tenant_id: str | None = None,
    ) -> ApiKey:
        values = dict(
            id=uuid.uuid4().hex,
            name=name,
            role=role,
            key_hash=key_hash,
            salt=salt,
            prefix=prefix,
            rpm=rpm,
            tpm=tpm,
        )
        if tenant_id:
            values["tenant_id"] = tenant_id
        return await self.add(**values)

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        """Active key with this prefix (auth looks keys up with a system scope before it knows the tenant)."""
        found = await self.all(self.select().where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
        return found[0] if found else None

    async def list(self) -> Sequence[ApiKey]:
        return await self.all(self.select().order_by(ApiKey.created_at))

    async def revoke(self, key_id: str) -> int:
        return await self.run(self.update().where(ApiKey.id == key_id).values(revoked_at=utcnow()))

    async def touch(self, key_id: str) -> int:
        return await self.run(self.update().where(ApiKey.id == key_id).values(last_used_at=utcnow()))


class Budgets(Repository[Budget]):
    model = Budget
    kind = "budget"

    async def set(
        self,
        *,
        period: Period,
        metric: Metric,
        limit: float,
        hard: bool = True,
        api_key_id: str | None = None,
        tenant_id: str | None = None,
    ) -> Budget:
        """Create or replace the one limit for (tenant, key, period, metric, hard)."""
        tenant = tenant_id if (tenant_id and self.scope.is_global_admin) else self.scope.tenant_id
        await self.clear(period=period, metric=metric, hard=hard, api_key_id=api_key_id, tenant_id=tenant)
        return await self.add(
            tenant_id=tenant,
            api_key_id=api_key_id,
            period=period,
            metric=metric,
            limit_value=float(limit),
            hard=hard,
        )

    async def clear(
        self,
        *,
        period: Period,
        metric: Metric,
        hard: bool,
        api_key_id: str | None = None,
        tenant_id: str | None = None,
    ) -> int:
        key = Budget.api_key_id.is_(None) if api_key_id is None else Budget.api_key_id == api_key_id
        stmt = self.delete().where(key, Budget.period == period, Budget.metric == metric, Budget.hard == hard)
        if tenant_id:
            stmt = stmt.where(Budget.tenant_id == tenant_id)
        return await self.run(stmt)

    async def list(self, *, api_key_id: str | None = None) -> Sequence[Budget]:
        stmt = self.select()
        if api_key_id is not None:
            stmt = stmt.where(or_(Budget.api_key_id.is_(None), Budget.api_key_id == api_key_id))
        return await self.all(stmt.order_by(Budget.tenant_id, Budget.id))

"""Repositories of the FAQ product line (models_faq), tenant-scoped through `Repository.scoped`.

Built from a Store's session factory: `FineTunes(store.sessions, scope)`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete

from nexus.store.errors import NotFound
from nexus.store.models import utcnow
from nexus.store.models_faq import FaqDocument, FaqPair, FineTune, Lead, SmartAgent, TenantModel
from nexus.store.repos.base import Repository, clamp_limit


class FineTunes(Repository[FineTune]):
    model = FineTune
    kind = "fine-tune"

    async def list(self, limit: int | None = None) -> Sequence[FineTune]:
        stmt = self.select().order_by(FineTune.created_at.desc()).limit(clamp_limit(limit))
        return await self.all(stmt)

    async def change(self, ident: str, **values: Any) -> int:
        values["updated_at"] = utcnow()
        return await self.run(self.update().where(FineTune.id == ident).values(**values))


class TenantModels(Repository[TenantModel]):
    model = TenantModel
    kind = "model"

    async def list(self) -> Sequence[TenantModel]:
        return await self.all(self.select().order_by(TenantModel.created_at))


class FaqDocuments(Repository[FaqDocument]):
    model = FaqDocument
    kind = "FAQ document"

    async def list(self, limit: int | None = None) -> Sequence[FaqDocument]:
        stmt = self.select().order_by(FaqDocument.created_at.desc()).limit(clamp_limit(limit))
        return await self.all(stmt)

    async def change(self, ident: str, **values: Any) -> int:
        return await self.run(self.update().where(FaqDocument.id == ident).values(**values))


class FaqPairs(Repository[FaqPair]):
    model = FaqPair
    kind = "FAQ"

    async def of_document(self, document_id: str) -> Sequence[FaqPair]:
        stmt = (
            self.select().where(FaqPair.document_id == document_id).order_by(FaqPair.created_at, FaqPair.id)
        )
        return await self.all(stmt)

    async def of_agent(self, agent_id: str) -> Sequence[FaqPair]:
        stmt = self.select().where(FaqPair.agent_id == agent_id).order_by(FaqPair.created_at, FaqPair.id)
        return await self.all(stmt)

    async def by_ids(self, ids: Sequence[str]) -> Sequence[FaqPair]:
        return await self.all(self.select().where(FaqPair.id.in_(list(ids))))

    async def edit(self, ident: str, **values: Any) -> FaqPair:
        """Change a pair's question or answer (NotFound unless the tenant's)."""
        if values and not await self.run(self.update().where(FaqPair.id == ident).values(**values)):
            raise NotFound(self.kind, ident)
        return await self.get(ident)

    async def remove(self, ident: str) -> None:
        if not await self.run(self.delete().where(FaqPair.id == ident)):
            raise NotFound(self.kind, ident)

    async def list(self, limit: int | None = None) -> Sequence[FaqPair]:
        stmt = self.select().order_by(FaqPair.created_at.desc(), FaqPair.id).limit(clamp_limit(limit, 1000))
        return await self.all(stmt)


class SmartAgents(Repository[SmartAgent]):
    model = SmartAgent
    kind = "smart agent"

    async def list(self) -> Sequence[SmartAgent]:
        return await self.all(self.select().order_by(SmartAgent.created_at))

    async def remove(self, ident: str) -> None:
        """The agent, its FAQ pairs and its leads, in one transaction (404 when not the tenant's)."""
        agent = await self.get(ident)
        async with self._sessions() as s, s.begin():
            t = agent.tenant_id
            await s.execute(delete(FaqPair).where(FaqPair.tenant_id == t, FaqPair.agent_id == ident))
            await s.execute(delete(Lead).where(Lead.tenant_id == t, Lead.agent_id == ident))
            await s.execute(delete(SmartAgent).where(SmartAgent.tenant_id == t, SmartAgent.id == ident))


class Leads(Repository[Lead]):
    model = Lead
    kind = "lead"

    async def conversation(self, agent_id: str, session_id: str) -> Lead | None:
        rows = await self.all(self.select().where(Lead.agent_id == agent_id, Lead.session_id == session_id))
        return rows[0] if rows else None

    async def list(self, agent_id: str | None = None, limit: int | None = None) -> Sequence[Lead]:
        stmt = self.select()
        if agent_id is not None:
            stmt = stmt.where(Lead.agent_id == agent_id)
        return await self.all(stmt.order_by(Lead.updated_at.desc()).limit(clamp_limit(limit)))

    async def change(self, ident: str, **values: Any) -> int:
        values["updated_at"] = utcnow()
        return await self.run(self.update().where(Lead.id == ident).values(**values))

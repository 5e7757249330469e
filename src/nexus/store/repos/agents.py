"""Agent definitions and runs (tenant-scoped), and the idempotency records of external calls."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.store.models import RunEvent, utcnow
from nexus.store.models_agents import AgentDefinition, AgentRun, ExecutionRecord
from nexus.store.repos.base import Repository, clamp_limit
from nexus.store.repos.work_orders import RunEvents
from nexus.store.scope import TenantScope

RUN_STATUSES = ("running", "paused", "completed", "limited", "failed")


class AgentDefinitions(Repository[AgentDefinition]):
    model = AgentDefinition
    kind = "agent"

    async def by_name(self, name: str) -> AgentDefinition | None:
        found = await self.all(self.select().where(AgentDefinition.name == name).limit(1))
        return found[0] if found else None

    async def list(self, *, limit: int | None = None) -> Sequence[AgentDefinition]:
        return await self.all(self.select().order_by(AgentDefinition.name).limit(clamp_limit(limit)))

    async def create(
        self, name: str, spec: dict[str, Any], *, created_by: str = ""
    ) -> AgentDefinition | None:
        """The new row, or None when the tenant already has an agent of that name."""
        try:
            return await self.add(id=uuid.uuid4().hex, name=name, spec=spec, created_by=created_by)
        except IntegrityError:
            return None

    async def remove(self, name: str) -> int:
        return await self.run(self.delete().where(AgentDefinition.name == name))


class AgentRuns(Repository[AgentRun]):
    model = AgentRun
    kind = "agent run"

    async def start(
        self, run_id: str, *, agent: str, session_id: str, task: str, request_id: str = ""
    ) -> AgentRun:
        return await self.add(
            id=run_id, agent=agent, session_id=session_id, task=task, request_id=request_id, status="running"
        )

    async def update_run(self, run_id: str, **values: Any) -> int:
        values["updated_at"] = utcnow()
        if values.get("status") in ("completed", "limited", "failed"):
            values.setdefault("finished_at", values["updated_at"])
        return await self.run(self.update().where(AgentRun.id == run_id).values(**values))

    async def list(
        self, *, agent: str | None = None, session_id: str | None = None, limit: int | None = None
    ) -> Sequence[AgentRun]:
        stmt = self.select()
        if agent:
            stmt = stmt.where(AgentRun.agent == agent)
        if session_id:
            stmt = stmt.where(AgentRun.session_id == session_id)
        return await self.all(stmt.order_by(AgentRun.created_at.desc()).limit(clamp_limit(limit)))


class ExecutionRecords(Repository[ExecutionRecord]):
    """One row per (tenant, idempotency key); the unique constraint is what serialises two callers."""

    model = ExecutionRecord
    kind = "execution record"

    async def claim(self, key: str, fingerprint: str, expires_at: datetime) -> bool:
        """Insert a pending record; False when the key is already recorded for this tenant."""
        try:
            await self.add(key=key, fingerprint=fingerprint, status="pending", expires_at=expires_at)
        except IntegrityError:
            return False
        return True

    async def by_key(self, key: str) -> ExecutionRecord | None:
        found = await self.all(self.select().where(ExecutionRecord.key == key).limit(1))
        return found[0] if found else None

    async def complete(self, key: str, response: dict[str, Any]) -> int:
        stmt = self.update().where(ExecutionRecord.key == key).values(status="done", response=response)
        return await self.run(stmt)

    async def release(self, key: str, *, expired_before: datetime | None = None) -> int:
        """Forget a key (a failed call may be tried again); with `expired_before`, only if it expired."""
        stmt = self.delete().where(ExecutionRecord.key == key)
        if expired_before is not None:
            stmt = stmt.where(ExecutionRecord.expires_at <= expired_before)
        return await self.run(stmt)

    async def prune(self, now: datetime | None = None) -> int:
        """Drop expired records of every tenant (the system scope's retention job)."""
        return await self.run(
            self.scoped(sa_delete(ExecutionRecord)).where(ExecutionRecord.expires_at <= (now or utcnow()))
        )


# -- tenant-parameterised facades: what the agent runtime's ports (nexus.agents.ports) are given ----------
class AgentStore:
    """API-created agents by tenant and name (every call scoped to that tenant, never globally)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def _repo(self, tenant: str) -> AgentDefinitions:
        return AgentDefinitions(self._sessions, TenantScope(tenant))

    async def list(self, tenant: str) -> Sequence[AgentDefinition]:
        return await self._repo(tenant).list()

    async def get(self, tenant: str, name: str) -> AgentDefinition | None:
        return await self._repo(tenant).by_name(name)

    async def create(
        self, tenant: str, name: str, spec: dict[str, Any], *, actor: str = ""
    ) -> AgentDefinition | None:
        return await self._repo(tenant).create(name, spec, created_by=actor)

    async def remove(self, tenant: str, name: str) -> bool:
        return bool(await self._repo(tenant).remove(name))


class AgentRunStore:
    """Agent runs and their events (the shared run_events table), by tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def _runs(self, tenant: str) -> AgentRuns:
        return AgentRuns(self._sessions, TenantScope(tenant))

    async def create(
        self, tenant: str, run_id: str, *, agent: str, session_id: str, task: str, request_id: str
    ) -> None:
        await self._runs(tenant).start(
            run_id, agent=agent, session_id=session_id, task=task, request_id=request_id
        )

    async def get(self, tenant: str, run_id: str) -> AgentRun | None:
        return await self._runs(tenant).find(run_id)

    async def list(
        self,
        tenant: str,
        *,
        agent: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[AgentRun]:
        return await self._runs(tenant).list(agent=agent, session_id=session_id, limit=limit)

    async def update(
        self, tenant: str, run_id: str, *, add: Mapping[str, float] | None = None, **values: Any
    ) -> None:
        """Set `values`; add `add` to counters (steps are set, tokens, cost and tool calls summed)."""
        for column, amount in (add or {}).items():
            values[column] = getattr(AgentRun, column) + amount
        await self._runs(tenant).update_run(run_id, **values)

    async def add_event(
        self, tenant: str, run_id: str, *, session_id: str, seq: int, type: str, payload: dict[str, Any]
    ) -> None:
        events = RunEvents(self._sessions, TenantScope(tenant))
        await events.add(
            run_id=run_id, session_id=session_id, seq=seq, type=type, node="agent", payload=payload
        )

    async def events(self, tenant: str, run_id: str) -> Sequence[RunEvent]:
        return await RunEvents(self._sessions, TenantScope(tenant)).for_run(run_id)

    async def mark_interrupted(self, before: datetime | None = None) -> int:
        """At start: runs a previous (killed) process left running are failed, every tenant's."""
        repo = AgentRuns(self._sessions, TenantScope.system())
        now = utcnow()
        stmt = (
            repo.update()
            .where(AgentRun.status == "running", AgentRun.updated_at < (before or now))
            .values(
                status="failed", error="interrupted: the process stopped", updated_at=now, finished_at=now
            )
        )
        return await repo.run(stmt)

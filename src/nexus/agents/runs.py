"""The run log: a sink that keeps each run's row (status, answer, totals, pending approval) and its
events (the shared run_events table) in the store, so a run can be read back after it ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.agents.events import AgentEvent
from nexus.store.models import RunEvent, utcnow
from nexus.store.models_agents import AgentRun
from nexus.store.repos.agents import AgentRuns
from nexus.store.repos.work_orders import RunEvents
from nexus.store.scope import TenantScope


class RunLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def runs(self, tenant: str) -> AgentRuns:
        return AgentRuns(self._sessions, TenantScope(tenant))

    def events(self, tenant: str) -> RunEvents:
        return RunEvents(self._sessions, TenantScope(tenant))

    async def create(
        self, tenant: str, run_id: str, *, agent: str, session_id: str, task: str, request_id: str
    ) -> None:
        await self.runs(tenant).start(
            run_id, agent=agent, session_id=session_id, task=task, request_id=request_id
        )

    async def __call__(self, tenant: str, event: AgentEvent) -> None:
        await self.events(tenant).add(
            run_id=event.run_id,
            session_id=event.session_id,
            seq=event.seq,
            type=event.type,
            node="agent",
            payload=event.payload(),
        )
        update = _row_update(event)
        if update:
            await self.runs(tenant).update_run(event.run_id, **update)

    async def event_count(self, tenant: str, run_id: str) -> int:
        return len(await self.events(tenant).for_run(run_id))

    async def read_events(self, tenant: str, run_id: str) -> Sequence[RunEvent]:
        return await self.events(tenant).for_run(run_id)

    async def mark_interrupted(self, before: datetime | None = None) -> int:
        """At start: runs a previous (killed) process left running are failed, every tenant's."""
        repo = AgentRuns(self._sessions, TenantScope.system())
        stmt = (
            repo.update()
            .where(AgentRun.status == "running", AgentRun.updated_at < (before or utcnow()))
            .values(
                status="failed",
                error="interrupted: the process stopped",
                updated_at=utcnow(),
                finished_at=utcnow(),
            )
        )
        return await repo.run(stmt)


def _row_update(event: AgentEvent) -> dict[str, Any]:
    d = event.data
    if d.type == "step":
        return {
            "steps": d.step,
            "tokens_in": AgentRun.tokens_in + d.prompt_tokens,
            "tokens_out": AgentRun.tokens_out + d.completion_tokens,
            "cost_usd": AgentRun.cost_usd + d.cost_usd,
        }
    if d.type == "tool_result":
        return {"tool_calls": AgentRun.tool_calls + 1}
    if d.type == "approval":
        return {"status": "paused", "pending": [c.model_dump(mode="json") for c in d.calls]}
    if d.type == "final":
        return {"answer": d.answer}
    if d.type == "error":
        return {"error": f"{d.code}: {d.message}"}
    if d.type == "started" and d.resumed:
        return {"status": "running", "pending": None}
    if d.type == "done":
        return {"status": d.status}
    return {}

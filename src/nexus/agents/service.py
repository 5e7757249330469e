"""The agents use cases, typed, for the doors to call: list/create/delete agents, start a run (an
async iterator of events), resume an approval, read a run. Every call is scoped to the caller's
tenant: another tenant's agent or run is "not found", exactly like one that does not exist."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from nexus.agents.directory import AgentDirectory, AgentInfo, Origin
from nexus.agents.errors import NotAwaitingApproval, RunNotCancellable, RunNotFound
from nexus.agents.events import AgentEvent, RunStatus
from nexus.agents.ports import RunRecord
from nexus.agents.runs import RunLog
from nexus.agents.runtime import AgentRuntime, Approval, RunScope
from nexus.agents.toolbox import Toolbox, Toolset, validate_sources
from nexus.agents.tools.base import ToolCall
from nexus.config.agents import AgentEntry
from nexus.jsontypes import JsonBool

SESSION_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


@dataclass(frozen=True, slots=True)
class AgentCaller:
    """Who calls: built by the door from its authenticated caller (tenant, request id, key id)."""

    tenant: str
    request_id: str = ""
    key_id: str | None = None
    actor: str = ""


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


class RunRequest(BaseModel):
    task: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(default=None, pattern=SESSION_PATTERN)
    # Earlier turns supplied by the caller (the OpenAI door passes the client's messages here).
    history: list[HistoryMessage] = Field(default_factory=list, max_length=1000)


class ApprovalRequest(BaseModel):
    """approve all waiting calls (or deny: false), or decide per call id in `calls`."""

    approve: JsonBool = True
    calls: dict[str, bool] | None = None


class AgentView(BaseModel):
    name: str
    description: str
    model: str
    tools: list[str]
    origin: Origin
    created_at: datetime | None = None
    definition: AgentEntry


class RunView(BaseModel):
    id: str
    agent: str
    session_id: str
    status: RunStatus
    task: str
    answer: str | None = None
    error: str | None = None
    steps: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    pending: list[ToolCall] | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    events: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class RunHandle:
    run_id: str
    session_id: str
    agent: str
    events: AsyncIterator[AgentEvent]


def _agent_view(info: AgentInfo) -> AgentView:
    s = info.spec
    tools = [*s.tools, *(f"mcp:{m.name}" for m in s.mcp), *(f"openapi:{o.name}" for o in s.openapi)]
    return AgentView(
        name=s.name,
        description=s.description,
        model=s.model,
        tools=tools,
        origin=info.origin,
        created_at=info.created_at,
        definition=s,
    )


def _run_view(row: RunRecord, events: list[dict[str, Any]] | None) -> RunView:
    return RunView(
        id=row.id,
        agent=row.agent,
        session_id=row.session_id,
        status=row.status,  # type: ignore[arg-type]
        task=row.task,
        answer=row.answer,
        error=row.error,
        steps=row.steps,
        tool_calls=row.tool_calls,
        prompt_tokens=row.tokens_in,
        completion_tokens=row.tokens_out,
        cost_usd=row.cost_usd,
        pending=[ToolCall.model_validate(c) for c in row.pending] if row.pending else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        events=events,
    )


class AgentService:
    def __init__(
        self, *, runtime: AgentRuntime, toolbox: Toolbox, directory: AgentDirectory, runs: RunLog
    ) -> None:
        self.runtime = runtime
        self.toolbox = toolbox
        self.directory = directory
        self.runs = runs
        if runs not in runtime.sinks:
            runtime.sinks.append(runs)

    # -- agents -----------------------------------------------------------------------------------
    async def list_agents(self, caller: AgentCaller) -> list[AgentView]:
        return [_agent_view(i) for i in await self.directory.list(caller.tenant)]

    async def get_agent(self, caller: AgentCaller, name: str) -> AgentView:
        return _agent_view(await self.directory.get(caller.tenant, name))

    async def create_agent(self, caller: AgentCaller, spec: AgentEntry) -> AgentView:
        validate_sources(spec, self.toolbox.registry, trusted=False)
        return _agent_view(await self.directory.create(caller.tenant, spec, actor=caller.actor))

    async def delete_agent(self, caller: AgentCaller, name: str) -> None:
        await self.directory.delete(caller.tenant, name)

    # -- runs -------------------------------------------------------------------------------------
    async def _toolset(self, caller: AgentCaller, info: AgentInfo) -> Toolset:
        return await self.toolbox.toolset(info.spec, tenant=caller.tenant, trusted=info.trusted)

    async def start_run(self, caller: AgentCaller, name: str, request: RunRequest) -> RunHandle:
        """Starts when `events` is first iterated; AgentNotFound, InvalidAgent, ToolSetupError and
        SessionBusy are raised here, before any event."""
        info = await self.directory.get(caller.tenant, name)
        self.directory.check_model(info.spec)
        toolset = await self._toolset(caller, info)
        session_id = request.session_id or uuid.uuid4().hex
        scope = RunScope(caller.tenant, session_id, uuid.uuid4().hex, caller.request_id, caller.key_id)
        history = [m.model_dump() for m in request.history]
        events = await self.runtime.start(info.spec, toolset, request.task, scope, history)
        await self.runs.store.create(
            caller.tenant,
            scope.run_id,
            agent=name,
            session_id=session_id,
            task=request.task,
            request_id=caller.request_id,
        )
        return RunHandle(scope.run_id, session_id, name, events)

    async def _row(self, caller: AgentCaller, run_id: str, agent: str | None) -> RunRecord:
        row = await self.runs.store.get(caller.tenant, run_id)
        if row is None or (agent is not None and row.agent != agent):
            raise RunNotFound(f"run {run_id!r} not found")
        return row

    async def resume_run(
        self, caller: AgentCaller, run_id: str, decision: ApprovalRequest, *, agent: str | None = None
    ) -> RunHandle:
        row = await self._row(caller, run_id, agent)
        if row.status != "paused":
            raise NotAwaitingApproval(f"run {run_id!r} is {row.status}, not waiting for an approval")
        info = await self.directory.get(caller.tenant, row.agent)
        toolset = await self._toolset(caller, info)
        scope = RunScope(
            caller.tenant, row.session_id, run_id, caller.request_id or row.request_id, caller.key_id
        )
        seq = len(await self.runs.store.events(caller.tenant, run_id))
        approval = Approval(approve=decision.approve, calls=decision.calls)
        events = await self.runtime.resume(info.spec, toolset, scope, approval, seq_start=seq)
        return RunHandle(run_id, row.session_id, row.agent, events)

    async def cancel_run(self, caller: AgentCaller, run_id: str, *, agent: str | None = None) -> RunView:
        """Stop a running run (executing in this process) or drop a paused one's waiting calls.
        RunNotCancellable (409) for a run that has ended, or runs in another process."""
        row = await self._row(caller, run_id, agent)
        if row.status == "running" and self.runtime.cancel(run_id):
            await self.runtime.wait(run_id)
        elif row.status == "paused":
            info = await self.directory.get(caller.tenant, row.agent)
            scope = RunScope(caller.tenant, row.session_id, run_id, caller.request_id, caller.key_id)
            seq = len(await self.runs.store.events(caller.tenant, run_id))
            await self.runtime.abandon(info.spec, scope, seq_start=seq)
        else:
            where = "ended" if row.status != "running" else "running in another process"
            raise RunNotCancellable(f"run {run_id!r} cannot be cancelled here: it is {where}")
        return await self.get_run(caller, run_id, events=False)

    async def get_run(
        self, caller: AgentCaller, run_id: str, *, agent: str | None = None, events: bool = True
    ) -> RunView:
        row = await self._row(caller, run_id, agent)
        stored = None
        if events:
            stored = [
                {"seq": e.seq, "type": e.type, "ts": e.ts.isoformat(), "data": e.payload}
                for e in await self.runs.store.events(caller.tenant, run_id)
            ]
        return _run_view(row, stored)

    async def list_runs(
        self, caller: AgentCaller, *, agent: str | None = None, session_id: str | None = None, limit: int = 50
    ) -> list[RunView]:
        rows = await self.runs.store.list(caller.tenant, agent=agent, session_id=session_id, limit=limit)
        return [_run_view(r, None) for r in rows]

    async def complete(self, caller: AgentCaller, name: str, request: RunRequest) -> RunView:
        """Run to its end (or its pause) and return the run: for the OpenAI door and the CLI."""
        handle = await self.start_run(caller, name, request)
        async for _ in handle.events:
            pass
        return await self.get_run(caller, handle.run_id, events=False)

    async def memory(self, caller: AgentCaller, name: str, session_id: str) -> list[dict[str, Any]]:
        await self.directory.get(caller.tenant, name)
        return await self.runtime.memory(name, caller.tenant, session_id)

    async def recover(self, before: datetime | None = None) -> int:
        return await self.runs.store.mark_interrupted(before)

"""What the agent runtime needs from persistence, as small Protocols. The store implements them
(`nexus.store.repos.agents.AgentStore` and `AgentRunStore`); the agents package never imports the
store, the way the pipeline reaches it only through its EventSink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class StoredAgent(Protocol):
    name: str
    spec: dict[str, Any]
    created_at: datetime


class AgentDefinitionStore(Protocol):
    """API-created agents; every call names the tenant and sees only that tenant's agents."""

    async def list(self, tenant: str) -> Sequence[StoredAgent]: ...

    async def get(self, tenant: str, name: str) -> StoredAgent | None: ...

    async def create(
        self, tenant: str, name: str, spec: dict[str, Any], *, actor: str = ""
    ) -> StoredAgent | None:
        """The stored agent, or None when the tenant already has one of that name."""
        ...

    async def remove(self, tenant: str, name: str) -> bool: ...


class RunRecord(Protocol):
    id: str
    agent: str
    session_id: str
    request_id: str
    status: str
    task: str
    answer: str | None
    error: str | None
    steps: int
    tool_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    pending: list[Any] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class StoredEvent(Protocol):
    seq: int
    type: str
    ts: datetime
    payload: dict[str, Any]


class RunStore(Protocol):
    """Agent runs and their events, by tenant."""

    async def create(
        self, tenant: str, run_id: str, *, agent: str, session_id: str, task: str, request_id: str
    ) -> None: ...

    async def get(self, tenant: str, run_id: str) -> RunRecord | None: ...

    async def list(
        self,
        tenant: str,
        *,
        agent: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[RunRecord]: ...

    async def update(
        self, tenant: str, run_id: str, *, add: Mapping[str, float] | None = None, **values: Any
    ) -> None:
        """Set `values` (status, answer, error, pending, steps); add `add` to counters
        (tokens_in, tokens_out, cost_usd, tool_calls)."""
        ...

    async def add_event(
        self, tenant: str, run_id: str, *, session_id: str, seq: int, type: str, payload: dict[str, Any]
    ) -> None: ...

    async def events(self, tenant: str, run_id: str) -> Sequence[StoredEvent]: ...

    async def mark_interrupted(self, before: datetime | None = None) -> int: ...

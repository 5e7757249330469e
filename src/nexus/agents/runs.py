"""The run log: a sink that keeps each run's record (status, answer, totals, pending approval) and its
events in a RunStore, so a run can be read back after it ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nexus.agents.events import AgentEvent
from nexus.agents.ports import RunStore


class RunLog:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def __call__(self, tenant: str, event: AgentEvent) -> None:
        await self.store.add_event(
            tenant,
            event.run_id,
            session_id=event.session_id,
            seq=event.seq,
            type=event.type,
            payload=event.payload(),
        )
        values, add = _changes(event)
        if values or add:
            await self.store.update(tenant, event.run_id, add=add, **values)


def _changes(event: AgentEvent) -> tuple[dict[str, Any], dict[str, float]]:
    """What an event changes on its run's record: (values to set, counters to add to)."""
    d = event.data
    if d.type == "step":
        add = {"tokens_in": d.prompt_tokens, "tokens_out": d.completion_tokens, "cost_usd": d.cost_usd}
        return {"steps": d.step}, add
    if d.type == "tool_result":
        return {}, {"tool_calls": 1}
    if d.type == "approval":
        return {"status": "paused", "pending": [c.model_dump(mode="json") for c in d.calls]}, {}
    if d.type == "final":
        return {"answer": d.answer}, {}
    if d.type == "error":
        return {"error": f"{d.code}: {d.message}"}, {}
    if d.type == "started" and d.resumed:
        return {"status": "running", "pending": None}, {}
    if d.type == "done":
        if d.status == "cancelled":  # the store stamps finished_at itself for the other ends
            return {"status": d.status, "pending": None, "finished_at": datetime.now(UTC)}, {}
        return {"status": d.status}, {}
    return {}, {}

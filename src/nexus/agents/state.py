"""The agent graph's state: JSON-able values only, so any checkpointer can persist it.

`messages` is the session's memory (user, assistant and tool messages in the OpenAI shape), kept by
the checkpointer across runs and restarts; the rest describes the current run.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from nexus.agents.model import ModelCaller
from nexus.agents.toolbox import Toolset
from nexus.config.agents import AgentEntry, MemoryPolicy


class AgentState(TypedDict, total=False):
    run_id: str
    agent: str
    tenant: str
    session_id: str
    request_id: str
    started_at: float
    messages: Annotated[list[dict[str, Any]], operator.add]
    # Index in `messages` where the current run's task starts.
    run_start: int
    step: int
    tool_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str
    # Calls proposed by the last model turn, not yet run (ToolCall dumps).
    pending: list[dict[str, Any]]
    needs_approval: bool
    # call id → approved, for the pending calls.
    approvals: dict[str, bool]
    # running | completed | limited | failed
    status: str
    answer: str
    # Why a run ended without an answer: {"code", "message"}.
    stop: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunContext:
    """What the nodes need that is not state (never checkpointed): LangGraph's run context."""

    spec: AgentEntry
    toolset: Toolset
    model: ModelCaller
    key_id: str | None = None


def window(messages: list[dict[str, Any]], memory: MemoryPolicy, run_start: int) -> list[dict[str, Any]]:
    """What the model sees of the memory: this run only (mode none), or the last `max_turns` turns.

    Cuts fall on user messages only, so a tool result is never separated from the call it answers.
    """
    msgs = messages[run_start:] if memory.mode == "none" else messages
    starts = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    if len(starts) > memory.max_turns:
        msgs = msgs[starts[-memory.max_turns] :]
    return list(msgs)

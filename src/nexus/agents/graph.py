"""The agent loop on LangGraph: think (one model call) → [approve (interrupt)] → act (tools in
parallel) → think … until a final answer or a limit. Events go out through the stream writer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from nexus.agents.events import Final, Step, ToolCallEvent, ToolResultEvent
from nexus.agents.model import ModelCallFailed, ModelTurn
from nexus.agents.state import AgentState, RunContext, window
from nexus.agents.tools.base import ToolCall, ToolContext, ToolResult
from nexus.guard.types import GuardBlocked
from nexus.providers.errors import ProviderError

DENIED = "error: a reviewer did not approve this call, so it was not run"


def _emit(runtime: Runtime[RunContext], payload: Any) -> None:
    runtime.stream_writer(payload)


def _stop(status: str, code: str, message: str) -> dict[str, Any]:
    return {
        "status": status,
        "stop": {"code": code, "message": message},
        "pending": [],
        "needs_approval": False,
    }


def _unique_ids(calls: list[ToolCall]) -> list[ToolCall]:
    seen: set[str] = set()
    out = []
    for i, c in enumerate(calls):
        cid = c.id if c.id and c.id not in seen else f"{c.id or 'call'}_{i}"
        seen.add(cid)
        out.append(c if cid == c.id else c.model_copy(update={"id": cid}))
    return out


async def think(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    limits = ctx.spec.limits
    step = state.get("step", 0)
    if step >= limits.max_steps:
        return _stop("limited", "step_limit", f"stopped after {step} steps without a final answer")
    remaining = limits.timeout_s - (time.time() - state["started_at"])
    if remaining <= 0:
        return _stop("limited", "time_limit", f"the run used its {limits.timeout_s:g}s")
    if limits.max_cost_usd is not None and state.get("cost_usd", 0.0) >= limits.max_cost_usd:
        return _stop("limited", "cost_limit", f"the run reached its ${limits.max_cost_usd:g} cost limit")
    memory = state.get("messages") or []
    # Where this run starts in the memory: fixed at its first step, under the session's lock. Until
    # then it counts back from the end (-1: the task alone; -3: two history messages and the task).
    run_start = state.get("run_start", -1)
    if run_start < 0:
        run_start = max(0, len(memory) + run_start)
    messages = [{"role": "system", "content": ctx.spec.instructions}]
    messages += window(memory, ctx.spec.memory, run_start)
    turn = ModelTurn(
        model=ctx.spec.model,
        messages=messages,
        tools=ctx.toolset.openai(),
        tenant=state["tenant"],
        run_id=state["run_id"],
        agent=state["agent"],
        request_id=state.get("request_id", ""),
        key_id=ctx.key_id,
        temperature=ctx.spec.temperature,
    )
    try:
        async with asyncio.timeout(remaining):
            reply = await ctx.model(turn)
    except TimeoutError:
        return _stop("limited", "time_limit", f"the run used its {limits.timeout_s:g}s")
    except ProviderError as exc:
        return _stop("failed", "model_error", str(exc)[:500])
    except ModelCallFailed as exc:
        return _stop("failed", exc.code, exc.message[:500])
    except GuardBlocked as exc:
        return _stop("failed", "guard_blocked", str(exc))
    step += 1
    prompt_tokens = state.get("prompt_tokens", 0) + reply.prompt_tokens
    completion_tokens = state.get("completion_tokens", 0) + reply.completion_tokens
    cost_usd = state.get("cost_usd", 0.0) + reply.cost_usd
    totals = {
        "run_start": run_start,
        "step": step,
        "model": reply.model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost_usd,
    }
    calls = _unique_ids(reply.tool_calls)
    _emit(
        runtime,
        Step(
            step=step,
            model=reply.model,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            latency_ms=reply.latency_ms,
            tool_calls=len(calls),
            text=reply.text if calls else "",
        ),
    )
    if not calls:
        _emit(
            runtime,
            Final(
                answer=reply.text,
                model=reply.model,
                steps=step,
                tool_calls=state.get("tool_calls", 0),
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost_usd,
            ),
        )
        return {
            **totals,
            "messages": [{"role": "assistant", "content": reply.text}],
            "answer": reply.text,
            "status": "completed",
        }
    if step >= limits.max_steps:
        # Tools whose results no model call would read are not run (nor kept in memory).
        return {
            **totals,
            **_stop("limited", "step_limit", f"stopped after {step} steps without a final answer"),
        }
    for c in calls:
        _emit(runtime, ToolCallEvent(step=step, call=c, requires_approval=ctx.toolset.needs_approval(c.name)))
    assistant = {
        "role": "assistant",
        "content": reply.text or None,
        "tool_calls": [c.openai() for c in calls],
    }
    return {
        **totals,
        "messages": [assistant],
        "pending": [c.model_dump() for c in calls],
        "needs_approval": any(ctx.toolset.needs_approval(c.name) for c in calls),
        "approvals": {},
    }


async def approve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    toolset = runtime.context.toolset
    calls = [ToolCall.model_validate(p) for p in state.get("pending") or []]
    asking = [c for c in calls if toolset.needs_approval(c.name)]
    # Pauses here (checkpointed); a resume re-enters this node and `interrupt` returns the decision.
    decision = interrupt({"calls": [c.model_dump(mode="json") for c in asking]})
    return {"approvals": decide(decision, asking)}


def decide(decision: Any, calls: list[ToolCall]) -> dict[str, bool]:
    """{"approve": bool} for all calls, or {"calls": {call_id: bool}} per call (unnamed ones denied)."""
    if isinstance(decision, dict) and isinstance(decision.get("calls"), dict):
        chosen = decision["calls"]
        return {c.id: bool(chosen.get(c.id, False)) for c in calls}
    approved = bool(decision.get("approve")) if isinstance(decision, dict) else bool(decision)
    return {c.id: approved for c in calls}


async def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    calls = [ToolCall.model_validate(p) for p in state.get("pending") or []]
    approvals = state.get("approvals") or {}
    step = state.get("step", 0)
    tctx = ToolContext(
        tenant=state["tenant"],
        agent=state["agent"],
        run_id=state["run_id"],
        session_id=state["session_id"],
        request_id=state.get("request_id", ""),
    )
    gate = asyncio.Semaphore(ctx.spec.limits.max_parallel_tools)

    async def one(call: ToolCall) -> ToolResult:
        if ctx.toolset.needs_approval(call.name) and not approvals.get(call.id, False):
            result = ToolResult(call_id=call.id, name=call.name, content=DENIED, is_error=True)
        else:
            async with gate:
                result = await ctx.toolset.run(call, tctx, ctx.spec.limits.tool_timeout_s)
        _emit(runtime, ToolResultEvent(step=step, result=result))  # as each finishes
        return result

    # The calls of one model turn are independent of each other: they run together.
    results = await asyncio.gather(*(one(c) for c in calls))
    return {
        "messages": [r.message() for r in results],
        "pending": [],
        "needs_approval": False,
        "approvals": {},
        "tool_calls": state.get("tool_calls", 0) + len(calls),
    }


def _after_think(state: AgentState) -> str:
    if state.get("status") != "running":
        return END
    return "approve" if state.get("needs_approval") else "act"


def build_agent_graph(checkpointer: Any) -> Any:
    g: Any = StateGraph(AgentState, context_schema=RunContext)
    g.add_node("think", think)
    g.add_node("approve", approve)
    g.add_node("act", act)
    g.add_edge(START, "think")
    g.add_conditional_edges("think", _after_think, ["approve", "act", END])
    g.add_edge("approve", "act")
    g.add_edge("act", "think")
    return g.compile(checkpointer=checkpointer)

"""The agents API, tenant-scoped: list and read agents, start a run (SSE of its typed events, or the
run when it ends), read a run, resume one paused for approval, cancel one.

Thin, like every door: policy (limits, budgets, the guard, sessions, accounting) is the
AgentsService's. Another tenant's agent or run is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, Field, ValidationError
from starlette.responses import Response, StreamingResponse

from nexus.agents import ApprovalRequest, RunHandle, RunRequest, RunView
from nexus.agents.service import SESSION_PATTERN, HistoryMessage
from nexus.config.agents import TenantAgentEntry
from nexus.gateway.deps import AdminDep, caller_of, services_of
from nexus.gateway.errors import APIError
from nexus.gateway.server import ShutdownSignal, ShuttingDown, until_shutdown
from nexus.gateway.streaming import SHUTDOWN_CODE, SHUTDOWN_MESSAGE, shutdown_of
from nexus.jsontypes import JsonBool
from nexus.providers.types import ChatRequest, new_completion_id
from nexus.service.identity import Caller

router = APIRouter(tags=["agents"])

DOOR = "agents"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class RunBody(BaseModel):
    input: str = Field(
        min_length=1,
        max_length=100_000,
        validation_alias=AliasChoices("input", "task"),
        description="the task for the agent (`task` is accepted too)",
    )
    session_id: str | None = Field(
        default=None, pattern=SESSION_PATTERN, description="continue this session's memory"
    )
    history: list[HistoryMessage] = Field(default_factory=list, max_length=1000)
    stream: JsonBool = Field(default=False, description="Server-Sent Events of the run's events")


class ResumeBody(ApprovalRequest):
    stream: JsonBool = False


def _caller(request: Request) -> Caller:
    return caller_of(request, DOOR)


@router.get("/api/agents", summary="The agents this tenant can run: description, tools, model health")
async def list_agents(request: Request) -> dict[str, Any]:
    data = await services_of(request).agents.list_agents(_caller(request))
    return {"object": "list", "data": data}


@router.post(
    "/api/agents",
    status_code=201,
    summary="Create one of this tenant's agents (an admin of the tenant)",
)
async def create_agent(spec: TenantAgentEntry, request: Request, _: AdminDep) -> dict[str, Any]:
    return await services_of(request).agents.create_agent(_caller(request), spec)


@router.delete(
    "/api/agents/{name}",
    status_code=204,
    summary="Delete one of this tenant's agents (an admin of the tenant)",
)
async def delete_agent(name: str, request: Request, _: AdminDep) -> Response:
    await services_of(request).agents.delete_agent(_caller(request), name)
    return Response(status_code=204)


@router.get("/api/agents/runs/{run_id}", summary="A run: status, answer, steps, tool calls, events")
async def get_run(run_id: str, request: Request) -> Response:
    return _json(await services_of(request).agents.get_run(_caller(request), run_id))


@router.get("/api/agents/{name}/runs/{run_id}", summary="A run of this agent (404 for another agent's)")
async def get_agent_run(name: str, run_id: str, request: Request) -> Response:
    return _json(await services_of(request).agents.get_run(_caller(request), run_id, agent=name))


@router.get("/api/agents/{name}", summary="One agent")
async def get_agent(name: str, request: Request) -> dict[str, Any]:
    return await services_of(request).agents.get_agent(_caller(request), name)


@router.post("/api/agents/{name}/runs", summary="Run an agent: its events as SSE, or the run when it ends")
async def start_run(name: str, body: RunBody, request: Request) -> Response:
    services = services_of(request)
    caller = _caller(request)
    run = RunRequest(task=body.input, session_id=body.session_id, history=body.history)
    handle = await services.agents.start(caller, name, run)
    return await _answer(request, caller, handle, body.stream)


@router.post("/api/agents/runs/{run_id}/resume", summary="Decide on a paused run's tool calls; it goes on")
async def resume_run(run_id: str, body: ResumeBody, request: Request) -> Response:
    services = services_of(request)
    caller = _caller(request)
    decision = ApprovalRequest(approve=body.approve, calls=body.calls)
    handle = await services.agents.resume(caller, run_id, decision)
    return await _answer(request, caller, handle, body.stream)


@router.post("/api/agents/runs/{run_id}/cancel", summary="Stop a running run, or drop a paused one")
async def cancel_run(run_id: str, request: Request) -> Response:
    return _json(await services_of(request).agents.cancel(_caller(request), run_id))


# -- the OpenAI door: model "agent:<name>" --------------------------------------------------------------
AGENT_PREFIX = "agent:"
# A run's error codes that are refusals of the service layer, with their status; any other is a 502.
ERROR_STATUS = {"rate_limit_exceeded": 429, "budget_exceeded": 429, "guard_blocked": 400, "forbidden": 403}


def _openai_run(request: Request, body: ChatRequest) -> RunRequest:
    """The last user message is the task. With X-Nexus-Session the session's memory holds the earlier
    turns; without, the client's earlier user/assistant messages are the run's history."""
    header = request.headers.get("x-nexus-session")
    texts = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant") and m.text()]
    if not texts or texts[-1][0] != "user":
        raise APIError(
            400, "The last message must be the user's task.", code="invalid_request", param="messages"
        )
    history = [] if header else [HistoryMessage(role=r, content=t) for r, t in texts[:-1]]  # type: ignore[arg-type]
    try:
        return RunRequest(task=texts[-1][1], session_id=header, history=history)
    except ValidationError:
        raise APIError(
            400, "Invalid X-Nexus-Session.", code="invalid_session_id", param="x-nexus-session"
        ) from None


def _nexus(view: RunView) -> dict[str, Any]:
    return {
        "run_id": view.id,
        "session_id": view.session_id,
        "agent": view.agent,
        "status": view.status,
        "steps": view.steps,
        "tool_calls": view.tool_calls,
        "cost_usd": view.cost_usd,
        "pending": [c.model_dump(mode="json") for c in view.pending or []],
    }


def _content(view: RunView) -> str:
    if view.status == "paused":
        calls = ", ".join(f"{c.name}({orjson.dumps(c.arguments).decode()})" for c in view.pending or [])
        return f"Waiting for approval of: {calls}. Resume with POST /api/agents/runs/{view.id}/resume."
    return view.answer or ""


def _failure(view: RunView) -> APIError | None:
    if view.status in ("completed", "paused"):
        return None
    code, _, message = (view.error or f"{view.status}: the run ended without an answer").partition(": ")
    return APIError(ERROR_STATUS.get(code, 502), message or code, code=code)


async def openai_agent(request: Request, body: ChatRequest) -> Response:
    """Run the agent named by `agent:<name>`; its answer as a chat completion (streamed if asked)."""
    services = services_of(request)
    caller = caller_of(request, "openai")
    name = body.model[len(AGENT_PREFIX) :]
    handle = await services.agents.start(caller, name, _openai_run(request, body))
    headers = {"X-Nexus-Run": handle.run_id, "X-Nexus-Session": handle.session_id}
    cid, created = new_completion_id(), int(time.time())
    base = {"id": cid, "created": created, "model": body.model}
    if not body.stream:
        async for _ in handle.events:
            pass
        view = await services.agents.get_run(caller, handle.run_id)
        failed = _failure(view)
        if failed is not None:
            raise failed
        payload = {
            **base,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _content(view)},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(view),
            "nexus": _nexus(view),
        }
        return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
    want_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return (
            b"data: "
            + orjson.dumps({**base, "object": "chat.completion.chunk", "choices": [choice], **extra})
            + b"\n\n"
        )

    async def stream() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for _ in until_shutdown(handle.events, shutdown_of(request)):
                pass
        except ShuttingDown:
            error = {"message": SHUTDOWN_MESSAGE, "type": "api_error", "param": None, "code": SHUTDOWN_CODE}
            yield b"data: " + orjson.dumps({"error": error}) + b"\n\n" + b"data: [DONE]\n\n"
            return
        view = await services.agents.get_run(caller, handle.run_id)
        failed = _failure(view)
        if failed is not None:
            error = {"message": failed.message, "type": failed.type, "param": None, "code": failed.code}
            yield b"data: " + orjson.dumps({"error": error}) + b"\n\n" + b"data: [DONE]\n\n"
            return
        yield chunk({"content": _content(view)})
        yield chunk({}, "stop", nexus=_nexus(view))
        if want_usage:
            yield (
                b"data: "
                + orjson.dumps(
                    {**base, "object": "chat.completion.chunk", "choices": [], "usage": _usage(view)}
                )
                + b"\n\n"
            )
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={**SSE_HEADERS, **headers})


def _usage(view: RunView) -> dict[str, int]:
    total = view.prompt_tokens + view.completion_tokens
    return {
        "prompt_tokens": view.prompt_tokens,
        "completion_tokens": view.completion_tokens,
        "total_tokens": total,
    }


# -- rendering --------------------------------------------------------------------------------------
def _json(view: RunView) -> Response:
    return Response(orjson.dumps(view.model_dump(mode="json")), media_type="application/json")


def _headers(handle: RunHandle) -> dict[str, str]:
    return {"X-Nexus-Run": handle.run_id, "X-Nexus-Session": handle.session_id, "X-Nexus-Agent": handle.agent}


async def _answer(request: Request, caller: Caller, handle: RunHandle, stream: bool) -> Response:
    if stream:
        return StreamingResponse(
            _sse(handle, shutdown_of(request)),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **_headers(handle)},
        )
    async for _ in handle.events:
        pass
    view = await services_of(request).agents.get_run(caller, handle.run_id)
    return Response(
        orjson.dumps(view.model_dump(mode="json")), media_type="application/json", headers=_headers(handle)
    )


async def _sse(handle: RunHandle, shutdown: ShutdownSignal) -> AsyncIterator[bytes]:
    """The run's events; the run itself goes on if the client leaves (read it back by its id)."""
    try:
        async for event in until_shutdown(handle.events, shutdown):
            yield event.sse()
    except ShuttingDown:
        error = {"code": SHUTDOWN_CODE, "message": SHUTDOWN_MESSAGE, "status": 503}
        yield (
            b"event: error\ndata: "
            + orjson.dumps({"type": "error", "run_id": handle.run_id, "data": error})
            + b"\n\n"
        )

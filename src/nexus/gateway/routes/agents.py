"""The agents API, tenant-scoped: list and read agents, start a run (SSE of its typed events, or the
run when it ends), read a run, resume one paused for approval, cancel one.

Thin, like every door: policy (limits, budgets, the guard, sessions, accounting) is the
AgentsService's. Another tenant's agent or run is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, Field
from starlette.responses import Response, StreamingResponse

from nexus.agents import ApprovalRequest, RunHandle, RunRequest, RunView
from nexus.agents.service import SESSION_PATTERN, HistoryMessage
from nexus.gateway.deps import caller_of, services_of
from nexus.gateway.server import ShutdownSignal, ShuttingDown, until_shutdown
from nexus.gateway.streaming import SHUTDOWN_CODE, SHUTDOWN_MESSAGE, shutdown_of
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
    stream: bool = Field(default=False, description="Server-Sent Events of the run's events")


class ResumeBody(ApprovalRequest):
    stream: bool = False


def _caller(request: Request) -> Caller:
    return caller_of(request, DOOR)


@router.get("/api/agents", summary="The agents this tenant can run: description, tools, model health")
async def list_agents(request: Request) -> dict[str, Any]:
    data = await services_of(request).agents.list_agents(_caller(request))
    return {"object": "list", "data": data}


@router.get("/api/agents/runs/{run_id}", summary="A run: status, answer, steps, tool calls, events")
async def get_run(run_id: str, request: Request) -> Response:
    return _json(await services_of(request).agents.get_run(_caller(request), run_id))


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

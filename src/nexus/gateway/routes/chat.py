"""The native chat API: POST /chat and POST /resume (SSE), GET /trace/{session_id}, WS /ws/chat.

All four render the pipeline's one Event model; the pipeline lives on `app.state.pipeline`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import StreamingResponse

from nexus.gateway.errors import APIError
from nexus.pipeline.events import Event
from nexus.pipeline.ports import TraceReader
from nexus.pipeline.runner import NotPaused, Pipeline
from nexus.pipeline.summary import summarise

router = APIRouter(tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChatBody(BaseModel):
    message: str = Field(min_length=1)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    response_format: dict[str, Any] | None = None
    # Extra QA for this request: {"required": [...], "forbidden": [...]}.
    qa: dict[str, list[str]] | None = None


class ResumeBody(BaseModel):
    session_id: str = Field(min_length=1, max_length=200)
    reply: str = Field(min_length=1)


def tenant_of(conn: Request | WebSocket) -> str:
    scope = getattr(conn.state, "scope", None)
    return str(getattr(scope, "tenant_id", None) or "default")


def pipeline_of(conn: Request | WebSocket) -> Pipeline:
    pipeline: Pipeline | None = getattr(conn.app.state, "pipeline", None)
    if pipeline is None:
        raise APIError(503, "The pipeline is not running on this server.", code="pipeline_unavailable")
    return pipeline


def trace_reader_of(conn: Request | WebSocket, pipeline: Pipeline) -> TraceReader:
    reader: TraceReader | None = getattr(conn.app.state, "trace_reader", None)
    return reader or pipeline.trace


def _sse(events: AsyncIterator[Event], session_id: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield event.sse()

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={**SSE_HEADERS, "X-Nexus-Session": session_id}
    )


def _start(pipeline: Pipeline, body: ChatBody, tenant: str, session_id: str) -> AsyncIterator[Event]:
    params = {"response_format": body.response_format} if body.response_format else None
    return pipeline.run(body.message, session_id=session_id, tenant=tenant, params=params, qa=body.qa)


@router.post("/chat", summary="Run the pipeline on a message; events as Server-Sent Events")
async def chat(body: ChatBody, request: Request) -> StreamingResponse:
    import uuid

    pipeline = pipeline_of(request)
    session_id = body.session_id or uuid.uuid4().hex
    return _sse(_start(pipeline, body, tenant_of(request), session_id), session_id)


async def _resume(
    pipeline: Pipeline, body: ResumeBody, tenant: str, reader: TraceReader | None = None
) -> AsyncIterator[Event]:
    try:
        return await pipeline.resume(body.session_id, body.reply, tenant)
    except NotPaused:
        # A session this tenant never had (another tenant's included) is unknown, not "not paused".
        if reader is not None and not await reader.session_events(tenant, body.session_id):
            raise APIError(404, f"Unknown session {body.session_id!r}.", code="session_not_found") from None
        raise APIError(
            409,
            f"Session {body.session_id!r} has no paused run to resume; start a new one with POST /chat.",
            code="not_paused",
        ) from None


@router.post("/resume", summary="Answer a paused run's clarifying question; the run continues")
async def resume(body: ResumeBody, request: Request) -> StreamingResponse:
    pipeline = pipeline_of(request)
    tenant = tenant_of(request)
    events = await _resume(pipeline, body, tenant, trace_reader_of(request, pipeline))
    return _sse(events, body.session_id)


@router.get("/trace/{session_id}", summary="Every event of every run of a session, with a summary")
async def trace(session_id: str, request: Request) -> dict[str, Any]:
    pipeline = pipeline_of(request)
    events = await trace_reader_of(request, pipeline).session_events(tenant_of(request), session_id)
    if not events:
        raise APIError(404, f"No trace for session {session_id!r}.", code="session_not_found")
    return {
        "session_id": session_id,
        "summary": summarise(events),
        "events": [e.model_dump(mode="json") for e in events],
    }


@router.websocket("/ws/chat")
async def ws_chat(ws: WebSocket) -> None:
    """Client messages: {"type":"chat","message":...,"session_id"?} or {"type":"resume","session_id","reply"}.
    Server messages: the pipeline's events as JSON objects."""
    import uuid

    await ws.accept()
    tenant = tenant_of(ws)
    try:
        while True:
            msg = await ws.receive_json()
            pipeline = getattr(ws.app.state, "pipeline", None)
            if pipeline is None:
                await ws.send_json({"type": "error", "data": {"message": "the pipeline is not running"}})
                continue
            try:
                if isinstance(msg, dict) and msg.get("type") == "resume":
                    rbody = ResumeBody.model_validate(msg)
                    events = await pipeline.resume(rbody.session_id, rbody.reply, tenant)
                else:
                    cbody = ChatBody.model_validate(msg)
                    events = _start(pipeline, cbody, tenant, cbody.session_id or uuid.uuid4().hex)
            except ValidationError as exc:
                await ws.send_json(
                    {
                        "type": "error",
                        "data": {"message": "invalid message", "detail": exc.errors(include_url=False)},
                    }
                )
                continue
            except NotPaused as exc:
                await ws.send_json({"type": "error", "data": {"message": str(exc), "code": "not_paused"}})
                continue
            async for event in events:
                await ws.send_text(event.json_bytes().decode())
    except WebSocketDisconnect:
        return

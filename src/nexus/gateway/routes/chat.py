"""The native chat API: POST /chat and POST /resume (SSE), POST /api/chat (JSON), GET /trace/{session_id},
WS /ws/chat. Each door parses its protocol, builds a TurnRequest and renders the turn's events; policy
is the ChatService's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Path, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import StreamingResponse

from nexus.gateway.deps import accept_websocket, caller_of, services_of
from nexus.gateway.server import ShutdownSignal, ShuttingDown
from nexus.gateway.streaming import SHUTDOWN_CODE, SHUTDOWN_MESSAGE, shutdown_of, turn_events
from nexus.pipeline.events import ErrorData, Event, FinalData, InterruptData
from nexus.pipeline.summary import summarise
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import AUTO_MODEL, Turn, TurnRequest
from nexus.service.errors import as_service_error
from nexus.service.sessions import SESSION_ID, SESSION_ID_RULE

log = logging.getLogger("nexus.gateway")
router = APIRouter(tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SESSION_FIELD = Field(
    default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description=SESSION_ID_RULE
)


class ChatBody(BaseModel):
    message: str = Field(min_length=1)
    session_id: str | None = SESSION_FIELD
    response_format: dict[str, Any] | None = None
    # Extra QA for this request: {"required": [...], "forbidden": [...]}.
    qa: dict[str, list[str]] | None = None


class ResumeBody(BaseModel):
    session_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description=SESSION_ID_RULE)
    reply: str = Field(min_length=1)


class ApiChatBody(BaseModel):
    """The seed's `POST /api/chat`: one message in, the answer out (JSON, no stream)."""

    content: str = Field(min_length=1)
    session_id: str | None = SESSION_FIELD
    model: str = Field(
        default=AUTO_MODEL, min_length=1, description="nexus-auto (routed) or a catalogue model id"
    )


def _one_message(
    text: str, model: str = AUTO_MODEL, *, response_format: dict[str, Any] | None = None
) -> ChatRequest:
    # Native doors show every event, drafts included, so the run is not `live` (QA may still retry).
    return ChatRequest(
        model=model,
        messages=[ChatMessage(role="user", content=text)],
        response_format=response_format,
    )


def _chat_turn(body: ChatBody) -> TurnRequest:
    return TurnRequest(
        chat=_one_message(body.message, response_format=body.response_format),
        session_id=body.session_id,
        client_history=False,
        qa=body.qa,
    )


def _resume_turn(body: ResumeBody) -> TurnRequest:
    return TurnRequest(
        chat=_one_message(body.reply), session_id=body.session_id, resume="yes", client_history=False
    )


def _sse(turn: Turn, shutdown: ShutdownSignal) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in turn_events(turn, shutdown):
                yield event.sse()
        except ShuttingDown:
            yield _shutdown_event(turn).sse()
        finally:
            await turn.aclose()

    headers = {
        **SSE_HEADERS,
        "X-Nexus-Session": turn.session_id or "",
        "X-Nexus-Work-Order": turn.work_order_id,
    }
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


@router.post("/chat", summary="Run the pipeline on a message; events as Server-Sent Events")
async def chat(body: ChatBody, request: Request) -> StreamingResponse:
    turn = await services_of(request).chat.turn(caller_of(request, "chat"), _chat_turn(body))
    return _sse(turn, shutdown_of(request))


@router.post("/resume", summary="Answer a paused run's clarifying question; the run continues")
async def resume(body: ResumeBody, request: Request) -> StreamingResponse:
    turn = await services_of(request).chat.turn(caller_of(request, "resume"), _resume_turn(body))
    return _sse(turn, shutdown_of(request))


@router.post("/api/chat", summary="One message in, the answer out, with its work order and session")
async def api_chat(body: ApiChatBody, request: Request) -> dict[str, Any]:
    req = TurnRequest(
        chat=_one_message(body.content, body.model),
        session_id=body.session_id,
        resume="auto",
        client_history=False,
    )
    turn = await services_of(request).chat.turn(caller_of(request, "api_chat"), req)
    outcome = await turn.result()
    final = outcome if isinstance(outcome, FinalData) else None
    return {
        "answer": final.answer if final else "",
        "question": outcome.question if isinstance(outcome, InterruptData) else None,
        "interrupt": isinstance(outcome, InterruptData),
        "work_order_id": turn.work_order_id,
        "session_id": turn.session_id,
        "model": final.model if final else None,
        "models": final.models if final else [],
        "tokens": final.tokens.model_dump() if final else None,
        "cost_usd": final.cost_usd if final else 0.0,
    }


@router.get("/trace/{session_id}", summary="Every event of every run of a session, with a summary")
async def trace(
    request: Request, session_id: str = Path(pattern=SESSION_ID.pattern, description=SESSION_ID_RULE)
) -> dict[str, Any]:
    events = await services_of(request).chat.trace_events(caller_of(request, "trace"), session_id)
    return {
        "session_id": session_id,
        "summary": summarise(events),
        "events": [e.model_dump(mode="json") for e in events],
    }


def _shutdown_event(turn: Turn) -> Event:
    error = ErrorData(message=SHUTDOWN_MESSAGE, code=SHUTDOWN_CODE, status=503)
    return Event.of(error, run_id=turn.run_id or "", session_id=turn.session_id or "", node="server")


def _ws_error(exc: BaseException) -> dict[str, Any]:
    mapped = as_service_error(exc)
    if mapped is None:
        log.exception("unhandled error on /ws/chat", exc_info=exc)
        return {
            "type": "error",
            "data": {"message": "internal error", "code": "internal_error", "status": 500},
        }
    return {
        "type": "error",
        "data": {"message": mapped.message, "code": mapped.code, "status": mapped.status},
    }


@router.websocket("/ws/chat")
async def ws_chat(ws: WebSocket) -> None:
    """Client messages: {"type":"chat","message":...,"session_id"?} or {"type":"resume","session_id","reply"}.
    Server messages: the turn's events as JSON objects; a refused turn is one `error` message carrying the
    HTTP status and code it would have had."""
    caller = await accept_websocket(ws, "ws")
    if caller is None:
        return
    services = services_of(ws)
    try:
        while True:
            msg = await ws.receive_json()
            try:
                if isinstance(msg, dict) and msg.get("type") == "resume":
                    req = _resume_turn(ResumeBody.model_validate(msg))
                else:
                    req = _chat_turn(ChatBody.model_validate(msg))
                turn = await services.chat.turn(caller, req)
            except ValidationError as exc:
                detail = exc.errors(include_url=False, include_context=False)
                await ws.send_json(
                    {
                        "type": "error",
                        "data": {
                            "message": "invalid message",
                            "code": "invalid_request",
                            "status": 400,
                            "detail": detail,
                        },
                    }
                )
                continue
            except Exception as exc:  # refused before it started: rate limit, budget, guard, 404, 409 …
                await ws.send_json(_ws_error(exc))
                continue
            try:
                async for event in turn_events(turn, shutdown_of(ws)):
                    await ws.send_text(event.json_bytes().decode())
            except ShuttingDown:
                await ws.send_text(_shutdown_event(turn).json_bytes().decode())
                await ws.close(code=1012)  # service restart
                return
            finally:
                await turn.aclose()
    except WebSocketDisconnect:
        return

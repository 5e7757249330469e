"""`model: "nexus-auto"` on /v1/chat/completions: the pipeline behind the OpenAI shape.

The run's final answer comes back as an ordinary completion (or chunks ending in `data: [DONE]`);
the run id, session and models used come back in `X-Nexus-*` headers and an extra `nexus` field.
A clarifying question comes back as the assistant's message, flagged `nexus.interrupt`; the client's
next message in the same session (header `X-Nexus-Session` or the `user` field) answers it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response, StreamingResponse

from nexus.gateway.errors import APIError
from nexus.gateway.routes.chat import pipeline_of, tenant_of
from nexus.pipeline.events import Event
from nexus.providers.types import ChatRequest, new_completion_id

AUTO_MODEL = "nexus-auto"
SESSION_HEADER = "x-nexus-session"
# Request fields handed to the pipeline's model calls.
PASSED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "response_format",
    "seed",
    "stop",
)
CHUNK_CHARS = 48


@dataclass(slots=True)
class Outcome:
    run_id: str = ""
    answer: str = ""
    interrupt: bool = False
    error: str | None = None
    final: dict[str, Any] = field(default_factory=dict)


async def _collect(events: AsyncIterator[Event]) -> Outcome:
    out = Outcome()
    async for e in events:
        out.run_id = e.run_id
        if e.type == "final":
            out.final = e.data
            out.answer = str(e.data.get("answer") or "")
        elif e.type == "interrupt":
            out.interrupt = True
            out.answer = str(e.data.get("question") or "")
        elif e.type == "error":
            out.error = str(e.data.get("message") or "pipeline failed")
    return out


def _nexus_field(out: Outcome, session_id: str) -> dict[str, Any]:
    f = out.final
    return {
        "run_id": out.run_id,
        "session_id": session_id,
        "interrupt": out.interrupt,
        "model": f.get("model"),
        "models": f.get("models") or [],
        "tokens": f.get("tokens"),
        "cost_usd": f.get("cost_usd"),
        "latency_ms": f.get("latency_ms"),
        "qa": f.get("qa"),
        "judge": f.get("judge"),
        "degraded": f.get("degraded") or [],
    }


def _headers(out: Outcome, session_id: str) -> dict[str, str]:
    models = out.final.get("models") or []
    return {
        "X-Nexus-Run": out.run_id,
        "X-Nexus-Session": session_id,
        "X-Nexus-Models": ",".join(models),
        "X-Nexus-Model": str(out.final.get("model") or ""),
        "X-Nexus-Interrupt": "true" if out.interrupt else "false",
    }


async def handle_auto(request: Request, body: ChatRequest) -> Response:
    pipeline = pipeline_of(request)
    tenant = tenant_of(request)
    session_id = request.headers.get(SESSION_HEADER) or body.user or uuid.uuid4().hex
    reply = body.last_user_text()
    if await pipeline.paused(session_id, tenant) is not None:
        events = await pipeline.resume(session_id, reply, tenant)
    else:
        params = {k: v for k, v in body.model_dump(include=set(PASSED_PARAMS), exclude_none=True).items()}
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        events = pipeline.run(reply, session_id=session_id, tenant=tenant, messages=messages, params=params)
    out = await _collect(events)
    if out.error is not None and not out.answer:
        raise APIError(502, f"The pipeline failed: {out.error}", code="pipeline_failed")
    nexus = _nexus_field(out, session_id)
    headers = _headers(out, session_id)
    tokens = out.final.get("tokens") or {}
    usage = {
        "prompt_tokens": int(tokens.get("prompt") or 0),
        "completion_tokens": int(tokens.get("completion") or 0),
        "total_tokens": int(tokens.get("total") or 0),
    }
    cid, created = new_completion_id(), int(time.time())
    if not body.stream:
        payload = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": AUTO_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.answer},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
            "nexus": nexus,
        }
        return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
    want_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            c = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": AUTO_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }
            return b"data: " + orjson.dumps(c) + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for i in range(0, len(out.answer), CHUNK_CHARS):
            yield chunk({"content": out.answer[i : i + CHUNK_CHARS]})
        yield chunk({}, "stop", nexus=nexus)
        if want_usage:
            tail = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": AUTO_MODEL,
                "choices": [],
                "usage": usage,
            }
            yield b"data: " + orjson.dumps(tail) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(
        chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers}
    )

"""A turn's events in the OpenAI chat-completions shape: a completion, or chunks ending in `[DONE]`.

Explicit model: the upstream's own response or chunks, passed through (output-guarded).
nexus-auto, streaming: the response starts once the route is decided (headers name the routed
model); the answering model's tokens then go out as they come when the run is `live` — a single
routed worker, the aggregator of a fan-out, or the self-answer — and at the end otherwise: a
critical request is judged (and maybe escalated) before delivery, and a request with its own QA
(a response format, required text) is checked before delivery, so a client never sees a draft that
is then rejected. A clarifying question comes back as the assistant's message, flagged in `nexus`.
A run that breaks after its answer began streaming ends with an in-stream error, like an upstream
failure mid-stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from nexus.gateway.errors import error_body
from nexus.gateway.server import ShutdownSignal, ShuttingDown
from nexus.gateway.streaming import SHUTDOWN_CODE, SHUTDOWN_MESSAGE, turn_events
from nexus.guard import GuardBlocked
from nexus.pipeline.events import (
    ChunkData,
    ErrorData,
    Event,
    FinalData,
    InterruptData,
    RoutedData,
    TokenData,
)
from nexus.providers.types import ChatChunk, new_completion_id
from nexus.service.chat import AUTO_MODEL, Turn
from nexus.service.errors import as_service_error

SSE_DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
CHUNK_CHARS = 48


def _dump(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(exclude_none=True))


def _data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def error_chunk(exc: BaseException) -> bytes:
    """An error after the stream began: the OpenAI error object as one more SSE message."""
    if isinstance(exc, ShuttingDown):
        return _data(error_body(503, SHUTDOWN_MESSAGE, code=SHUTDOWN_CODE))
    if isinstance(exc, GuardBlocked):
        msg = f"The answer was blocked by the output guard ({', '.join(exc.categories)})."
        return _data(error_body(400, msg, code="guard_blocked"))
    mapped = as_service_error(exc)
    if mapped is None:
        return _data(error_body(500, "Internal error.", code="internal_error"))
    return _data(error_body(mapped.status, mapped.message, code=mapped.code))


# -- explicit model ---------------------------------------------------------------------------------
def explicit_completion(final: FinalData) -> Response:
    assert final.response is not None
    return Response(
        _dump(final.response), media_type="application/json", headers={"x-nexus-model": final.response.model}
    )


async def explicit_stream(turn: Turn, want_usage: bool, shutdown: ShutdownSignal) -> Response:
    events = turn.events
    # Pull the first chunk before answering, so a failure up to here still gets a real status code.
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        first = None
    except BaseException:
        await turn.aclose()
        raise
    served = first.data.chunk.model if first is not None and isinstance(first.data, ChunkData) else turn.model

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                out = _render_chunk(first, want_usage)
                if out:
                    yield out
            async for event in turn_events(turn, shutdown, events):
                out = _render_chunk(event, want_usage)
                if out:
                    yield out
        except Exception as exc:  # an upstream failure or an output-guard block mid-stream
            yield error_chunk(exc)
        finally:
            await turn.aclose()
        yield SSE_DONE

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={**SSE_HEADERS, "x-nexus-model": served}
    )


def _render_chunk(event: Event, want_usage: bool) -> bytes | None:
    if not isinstance(event.data, ChunkData):
        return None
    chunk = event.data.chunk
    if not want_usage and chunk.usage is not None:
        if not chunk.choices:
            return None  # the usage-only chunk Nexus asked the upstream for
        chunk = chunk.model_copy(update={"usage": None})
    return b"data: " + _dump(chunk) + b"\n\n"


# -- nexus-auto ---------------------------------------------------------------------------------------
def nexus_field(turn: Turn, final: FinalData | None, interrupt: bool, live: bool = False) -> dict[str, Any]:
    f = final or FinalData()
    return {
        "run_id": turn.run_id,
        "session_id": turn.session_id,
        "work_order_id": turn.work_order_id,
        "interrupt": interrupt,
        "live": live,
        "model": f.model,
        "models": f.models,
        "tokens": f.tokens.model_dump(),
        "cost_usd": f.cost_usd,
        "latency_ms": f.latency_ms,
        "qa": f.qa,
        "judge": f.judge,
        "degraded": f.degraded,
        "guard_flagged": turn.flagged,
        "policy": turn.policy,
        "cache": turn.cache,
    }


def _headers(turn: Turn, models: list[str], interrupt: bool) -> dict[str, str]:
    return {
        "x-nexus-run": turn.run_id or "",
        "x-nexus-session": turn.session_id or "",
        "x-nexus-work-order": turn.work_order_id,
        "x-nexus-models": ",".join(models),
        "x-nexus-model": models[0] if len(models) == 1 else "",
        "x-nexus-interrupt": "true" if interrupt else "false",
        # The A/B arm of the routing policy, and what the semantic cache did (empty when not in play).
        "x-nexus-policy": turn.policy or "",
        "x-nexus-cache": turn.cache or "",
    }


def _usage(final: FinalData | None) -> dict[str, int]:
    t = final.tokens if final else None
    return {
        "prompt_tokens": t.prompt if t else 0,
        "completion_tokens": t.completion if t else 0,
        "total_tokens": t.total if t else 0,
    }


def _message(outcome: FinalData | InterruptData) -> dict[str, Any]:
    if isinstance(outcome, InterruptData):
        return {"role": "assistant", "content": outcome.question}
    msg: dict[str, Any] = {"role": "assistant", "content": outcome.answer or None}
    if outcome.tool_calls:
        msg["tool_calls"] = outcome.tool_calls
    elif msg["content"] is None:
        msg["content"] = ""
    return msg


def auto_completion(turn: Turn, outcome: FinalData | InterruptData) -> Response:
    final = outcome if isinstance(outcome, FinalData) else None
    interrupt = final is None
    payload = {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": AUTO_MODEL,
        "choices": [
            {
                "index": 0,
                "message": _message(outcome),
                "finish_reason": final.finish_reason if final else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(final),
        "nexus": nexus_field(turn, final, interrupt),
    }
    headers = _headers(turn, final.models if final else [], interrupt)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def auto_stream(turn: Turn, want_usage: bool, shutdown: ShutdownSignal) -> Response:
    events = turn.events
    head: list[Event] = []
    models: list[str] = []
    interrupt = False
    async for event in events:  # the response starts once the route is known
        head.append(event)
        if isinstance(event.data, RoutedData):
            models = event.data.models
            break
        if isinstance(event.data, InterruptData):
            interrupt = True
            break
        if isinstance(event.data, FinalData | ErrorData):
            break
    return StreamingResponse(
        _auto_chunks(turn, head, turn_events(turn, shutdown, events), want_usage),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, **_headers(turn, models, interrupt)},
    )


async def _auto_chunks(
    turn: Turn, head: list[Event], rest: AsyncIterator[Event], want_usage: bool
) -> AsyncIterator[bytes]:
    cid, created = new_completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        c = ChatChunk.model_validate(
            {
                "id": cid,
                "created": created,
                "model": AUTO_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
        )
        return b"data: " + orjson.dumps({**c.model_dump(exclude_none=True), **extra}) + b"\n\n"

    async def all_events() -> AsyncIterator[Event]:
        for e in head:
            yield e
        async for e in rest:
            yield e

    live, source, broken = False, "", False
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in all_events():
            d = event.data
            if isinstance(d, RoutedData):
                live = d.live
            elif isinstance(d, TokenData) and d.deliverable and live and not broken:
                if source and d.source != source:
                    # A second draft after the first went out (a failed worker's fallback): stop here.
                    broken = True
                    yield _data(
                        error_body(
                            502, "The answer broke off mid-stream; retry the request.", code="stream_broken"
                        )
                    )
                    continue
                source = source or d.source
                yield chunk({"content": d.text})
            elif isinstance(d, InterruptData):
                yield chunk({"content": d.question})
                yield chunk({}, "stop", nexus=nexus_field(turn, None, True))
                if want_usage:
                    yield _usage_chunk(cid, created, None)
            elif isinstance(d, FinalData):
                if broken:
                    continue
                if not source:  # judged or checked before delivery: the whole answer now
                    for i in range(0, len(d.answer), CHUNK_CHARS):
                        yield chunk({"content": d.answer[i : i + CHUNK_CHARS]})
                if d.tool_calls:
                    calls = [{"index": i, **c} for i, c in enumerate(d.tool_calls)]
                    yield chunk({"tool_calls": calls})
                yield chunk({}, d.finish_reason, nexus=nexus_field(turn, d, False, live))
                if want_usage:
                    yield _usage_chunk(cid, created, d)
            elif isinstance(d, ErrorData) and not broken:
                yield _data(
                    error_body(
                        d.status or 502, f"The pipeline failed: {d.message}", code=d.code or "pipeline_failed"
                    )
                )
    except Exception as exc:
        yield error_chunk(exc)
    finally:
        await turn.aclose()
    yield SSE_DONE


def _usage_chunk(cid: str, created: int, final: FinalData | None) -> bytes:
    tail = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": AUTO_MODEL,
        "choices": [],
        "usage": _usage(final),
    }
    return _data(tail)

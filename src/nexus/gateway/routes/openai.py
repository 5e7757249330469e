"""The OpenAI-compatible API: /v1/chat/completions, /v1/models, /v1/embeddings.

An explicit catalogue model is the fast path: no graph, no embedding, only the provider call with
its retry/fallback/metering wrappers. `nexus-auto` hands over to the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from nexus.gateway.body import body_schema, parse_body
from nexus.gateway.errors import APIError, error_body, provider_error
from nexus.gateway.guarding import GatewayGuard
from nexus.gateway.state import accounting_hooks, hub_of, tenant_of
from nexus.guard import GuardBlocked, StreamGuard
from nexus.providers.errors import ProviderError
from nexus.providers.types import ChatChunk, ChatRequest, Usage

router = APIRouter(tags=["openai"])

AUTO_MODEL = "nexus-auto"
_SSE_DONE = b"data: [DONE]\n\n"


def _dump(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(exclude_none=True))


@router.post(
    "/v1/chat/completions", openapi_extra=body_schema(ChatRequest), summary="Create a chat completion"
)
async def chat_completions(request: Request) -> Response:
    body = await parse_body(request, ChatRequest)
    if len(body.messages) > request.app.state.settings.max_messages:
        raise APIError(
            400,
            f"Too many messages: the limit is {request.app.state.settings.max_messages}.",
            code="too_many_messages",
            param="messages",
        )
    if body.model == AUTO_MODEL:
        handler = getattr(request.app.state, "auto_handler", None)
        if handler is None:
            raise APIError(
                501,
                "Routing with 'nexus-auto' is not enabled on this server; name a catalogue model.",
                code="not_implemented",
            )
        response: Response = await handler(request, body)
        return response
    hub = hub_of(request)
    entry = hub.entry(body.model)  # UnknownModel → 404
    tenant = tenant_of(request)
    guard: GatewayGuard | None = getattr(request.app.state, "guard", None)
    if guard is not None:
        body, _ = guard.check_request(body, tenant, full=False)  # GuardBlocked → 400
    hooks = accounting_hooks(request)
    started = time.perf_counter()
    await hooks.started(request, entry.id)
    if not body.stream:
        try:
            resp = await hub.complete(entry.id, body)
        except ProviderError as exc:
            await hooks.finished(request, entry.id, None, None, started, exc)
            raise
        await hooks.finished(request, entry.id, resp.model, resp.usage, started, None)
        if guard is not None and resp.choices and resp.choices[0].message.content:
            resp.choices[0].message.content = guard.check_answer(resp.choices[0].message.content, tenant)
        return Response(_dump(resp), media_type="application/json", headers={"x-nexus-model": resp.model})
    stream_guard = guard.stream(tenant) if guard is not None else None
    return await _stream(request, hub.stream(entry.id, body), body, entry.id, started, stream_guard)


async def _stream(
    request: Request,
    chunks: AsyncIterator[ChatChunk],
    body: ChatRequest,
    model_id: str,
    started: float,
    guard: StreamGuard | None,
) -> Response:
    hooks = accounting_hooks(request)
    want_usage = bool(body.stream_options and body.stream_options.include_usage)
    # Pull the first chunk before answering, so a failure up to here still gets a real status code.
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = None
    except ProviderError as exc:
        await hooks.finished(request, model_id, None, None, started, exc)
        raise

    served = first.model if first is not None else model_id

    async def events() -> AsyncIterator[bytes]:
        usage: Usage | None = None
        error: ProviderError | None = None
        try:
            pending = [first] if first is not None else []
            for chunk in pending:
                usage = chunk.usage or usage
                out = _render_chunk(_guarded(chunk, guard), want_usage)
                if out:
                    yield out
            async for chunk in chunks:
                usage = chunk.usage or usage
                out = _render_chunk(_guarded(chunk, guard), want_usage)
                if out:
                    yield out
        except ProviderError as exc:
            error = exc
            api = provider_error(exc)
            yield b"data: " + orjson.dumps(error_body(api.status, api.message, code=api.code)) + b"\n\n"
        except GuardBlocked as exc:
            msg = f"The answer was blocked by the output guard ({', '.join(exc.categories)})."
            yield b"data: " + orjson.dumps(error_body(400, msg, code="guard_blocked")) + b"\n\n"
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            await hooks.finished(request, model_id, served, usage, started, error)
        yield _SSE_DONE

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-nexus-model": served, "x-accel-buffering": "no"},
    )


def _guarded(chunk: ChatChunk, guard: StreamGuard | None) -> ChatChunk:
    """Pass streamed text through the output guard: it holds back a short window so a secret split
    across chunks is still caught, and releases the rest with the chunk that finishes the choice."""
    if guard is None or not chunk.choices:
        return chunk
    choice = chunk.choices[0]
    text = guard.feed(choice.delta.content) if choice.delta.content else ""
    if choice.finish_reason is not None:
        text += guard.finish()
    if text == (choice.delta.content or ""):
        return chunk
    choice.delta.content = text
    return chunk


def _render_chunk(chunk: ChatChunk, want_usage: bool) -> bytes | None:
    if chunk.choices and not chunk.choices[0].delta.content and _empty(chunk):
        return None  # the guard is holding this text back for now
    if not want_usage and chunk.usage is not None:
        if not chunk.choices:
            return None  # the usage-only chunk we asked the upstream for
        chunk = chunk.model_copy(update={"usage": None})
    return b"data: " + _dump(chunk) + b"\n\n"


def _empty(chunk: ChatChunk) -> bool:
    c = chunk.choices[0]
    return c.finish_reason is None and not c.delta.tool_calls and c.delta.role is None


@router.get("/v1/models", summary="List models")
async def list_models(request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    data = [
        {
            "id": AUTO_MODEL,
            "object": "model",
            "created": 0,
            "owned_by": "nexus",
            "nexus": {"available": True, "routed": True, "description": "Routed by Nexus to the best model"},
        }
    ]
    for m in hub.catalogue.models:
        data.append(
            {
                "id": m.id,
                "object": "model",
                "created": 0,
                "owned_by": m.provider,
                "nexus": {
                    "available": hub.is_available(m.id),
                    "simulated": m.simulated,
                    "upstream_model": m.model,
                    "input_price_per_mtok": m.input_price_per_mtok,
                    "output_price_per_mtok": m.output_price_per_mtok,
                    "context_window": m.context_window,
                    "tags": list(m.tags),
                },
            }
        )
    return {"object": "list", "data": data}


class EmbeddingRequest(BaseModel):
    input: str | list[str] = Field(description="text or list of texts")
    model: str = "all-MiniLM-L6-v2"
    encoding_format: str | None = Field(default=None, pattern="^(float)$")
    user: str | None = None


@router.post("/v1/embeddings", openapi_extra=body_schema(EmbeddingRequest), summary="Create embeddings")
async def embeddings(request: Request) -> Response:
    body = await parse_body(request, EmbeddingRequest)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > 2048:
        raise APIError(400, "input must hold 1 to 2048 texts.", code="invalid_input", param="input")
    embedder = getattr(request.app.state, "embedder", None)
    if embedder is None:
        raise APIError(503, "No embedding model is loaded on this server.", code="embeddings_unavailable")
    import anyio.to_thread

    vectors = await anyio.to_thread.run_sync(embedder.embed, texts)
    tokens = sum(max(1, len(t) // 4) for t in texts)
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
        "model": embedder.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(orjson.dumps(payload), media_type="application/json")

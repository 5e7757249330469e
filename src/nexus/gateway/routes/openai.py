"""The OpenAI-compatible API: /v1/chat/completions, /v1/models, /v1/embeddings.

The route only parses the OpenAI protocol and renders the turn's events; policy (limits, budgets,
guard, routing, accounting) is the ChatService's. An explicit catalogue model is the fast path (no
graph, no embedding); `nexus-auto` runs the pipeline.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import anyio.to_thread
import numpy as np
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from nexus.gateway.body import body_schema, parse_body
from nexus.gateway.deps import caller_of, services_of
from nexus.gateway.errors import APIError
from nexus.gateway.render_openai import auto_completion, auto_stream, explicit_completion, explicit_stream
from nexus.gateway.routes.agents import AGENT_PREFIX, openai_agent
from nexus.gateway.routes.rag import with_grounding
from nexus.gateway.streaming import shutdown_of
from nexus.jsontypes import JsonIntOrNone
from nexus.pipeline.events import FinalData
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import ChatRequest
from nexus.service.chat import AUTO_MODEL, TurnRequest
from nexus.service.sessions import check_session_id

router = APIRouter(tags=["openai"])

SESSION_HEADER = "x-nexus-session"
DOOR = "openai"


def _session(request: Request, body: ChatRequest) -> str | None:
    """The session a nexus-auto request continues: the X-Nexus-Session header, else a well-formed `user`."""
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        return check_session_id(header, param=SESSION_HEADER)
    if body.user:
        try:
            return check_session_id(body.user, param="user")
        except APIError:
            return None  # `user` is an end-user id (an email, say), not a session: start a new one
    return None


@router.post(
    "/v1/chat/completions", openapi_extra=body_schema(ChatRequest), summary="Create a chat completion"
)
async def chat_completions(request: Request) -> Response:
    body = await parse_body(request, ChatRequest)
    services = services_of(request)
    caller = caller_of(request, DOOR)
    want_usage = bool(body.stream_options and body.stream_options.include_usage)
    if body.model.startswith(AGENT_PREFIX):  # a tool-calling agent's run (routes/agents.py)
        return await openai_agent(request, body)
    if body.model != AUTO_MODEL:
        session = request.headers.get(SESSION_HEADER)
        turn = await services.chat.turn(
            caller,
            TurnRequest(chat=body, session_id=check_session_id(session, SESSION_HEADER) if session else None),
        )
        if body.stream:
            return await explicit_stream(turn, want_usage, shutdown_of(request))
        outcome = await turn.result()
        assert isinstance(outcome, FinalData)
        return explicit_completion(outcome)
    grounded = await services.documents.ground_chat(caller, body)  # None unless it names vector stores
    body = grounded.request if grounded is not None else body
    turn = await services.chat.turn(
        caller, TurnRequest(chat=body, session_id=_session(request, body), resume="auto", client_history=True)
    )
    if body.stream:
        return with_grounding(await auto_stream(turn, want_usage, shutdown_of(request)), grounded)
    return with_grounding(auto_completion(turn, await turn.result()), grounded)


@router.get("/v1/models", summary="List models")
async def list_models(request: Request) -> dict[str, Any]:
    hub = services_of(request).hub
    tenant = caller_of(request, "models").tenant
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
        if not m.visible_to(tenant):  # another tenant's fine-tune
            continue
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
                    "capabilities": list(m.capabilities),
                },
            }
        )
    return {"object": "list", "data": data}


class EmbeddingRequest(BaseModel):
    # Token arrays are parsed only to refuse them with a helpful message: the document says text.
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="text or list of texts",
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048},
            ]
        },
    )
    model: str = "all-MiniLM-L6-v2"
    # The official SDK asks for base64 unless told otherwise.
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: JsonIntOrNone = Field(default=None, ge=1)
    user: str | None = None


@router.post("/v1/embeddings", openapi_extra=body_schema(EmbeddingRequest), summary="Create embeddings")
async def embeddings(request: Request) -> Response:
    body = await parse_body(request, EmbeddingRequest)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if any(not isinstance(t, str) for t in texts):
        raise APIError(
            400,
            "Token arrays are not supported: send text (with LangChain's OpenAIEmbeddings, set "
            "check_embedding_ctx_length=False).",
            code="invalid_input",
            param="input",
        )
    strings = [str(t) for t in texts]
    if not strings or len(strings) > 2048:
        raise APIError(400, "input must hold 1 to 2048 texts.", code="invalid_input", param="input")
    services = services_of(request)
    embedder = services.embedder
    if embedder is None:
        raise APIError(503, "No embedding model is loaded on this server.", code="embeddings_unavailable")
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise APIError(
            400,
            f"{embedder.name} makes {embedder.dim}-dimensional vectors.",
            code="invalid_dimensions",
            param="dimensions",
        )
    tokens = sum(estimate_tokens(t) for t in strings)
    await services.admission.admit(caller_of(request, "embeddings").principal, lambda: tokens)
    vectors = await anyio.to_thread.run_sync(embedder.embed, strings)
    b64 = body.encoding_format == "base64"
    payload = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, b64)} for i, v in enumerate(vectors)
        ],
        "model": embedder.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(orjson.dumps(payload), media_type="application/json")


def _encode(vector: np.ndarray, b64: bool) -> list[float] | str:
    if b64:
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]

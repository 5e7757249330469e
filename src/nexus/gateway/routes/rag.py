"""POST /rag-chat: a question answered from the caller's vector stores, as Server-Sent Events —
`retrieved`, `reranked`, `compressed`, `token`…, `final` (the answer, its verified citations, the claims
without support, and `answerable: false` when the documents do not answer). Refusals (unknown store,
rate limit, budget, guard) are the response's status in the OpenAI error shape; a failure after the
stream began is an `error` event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, Field
from starlette.responses import Response, StreamingResponse

from nexus.gateway.deps import caller_of
from nexus.gateway.routes.chat import SSE_HEADERS
from nexus.gateway.routes.files import documents_of
from nexus.jsontypes import JsonInt
from nexus.rag.answer import RagEvent
from nexus.service.chat import AUTO_MODEL
from nexus.service.documents import GroundedChat
from nexus.service.errors import as_service_error

log = logging.getLogger("nexus.gateway")
router = APIRouter(tags=["documents"])


class RagChatBody(BaseModel):
    question: str = Field(min_length=1, validation_alias=AliasChoices("question", "message"))
    vector_store_ids: list[str] = Field(
        min_length=1, max_length=20, validation_alias=AliasChoices("vector_store_ids", "collections")
    )
    model: str = Field(default=AUTO_MODEL, min_length=1)
    k: JsonInt = Field(default=8, ge=1, le=50)
    budget_tokens: JsonInt = Field(default=1200, ge=100, le=16_000)


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


async def _stream(events: AsyncIterator[RagEvent]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield _sse(event.type, event.data)
    except Exception as exc:  # after the stream began: an error event, never a broken stream
        mapped = as_service_error(exc)
        if mapped is None:
            log.exception("rag-chat failed", exc_info=exc)
        yield _sse(
            "error",
            {
                "message": mapped.message if mapped else "internal error",
                "code": mapped.code if mapped else "internal_error",
                "status": mapped.status if mapped else 500,
            },
        )


@router.post("/rag-chat", summary="Answer from vector stores with verified citations (SSE)")
async def rag_chat(body: RagChatBody, request: Request) -> StreamingResponse:
    events = await documents_of(request).answer(
        caller_of(request, "rag_chat"),
        body.vector_store_ids,
        body.question,
        model=body.model,
        k=body.k,
        budget_tokens=body.budget_tokens,
    )
    return StreamingResponse(_stream(events), media_type="text/event-stream", headers=SSE_HEADERS)


GROUNDING_HEADER = "x-nexus-grounding"


def with_grounding(response: Response, grounded: GroundedChat | None) -> Response:
    """Grounded nexus-auto on /v1/chat/completions: every response says whether retrieval was used (a
    header); a complete (non-streamed) answer also carries `nexus.grounding` with verified citations."""
    if grounded is None:
        return response
    response.headers[GROUNDING_HEADER] = grounded.header()
    if isinstance(response, StreamingResponse) or response.status_code != 200:
        return response
    payload = orjson.loads(bytes(response.body))
    choices = payload.get("choices") or [{}]
    answer = str((choices[0].get("message") or {}).get("content") or "")
    payload.setdefault("nexus", {})["grounding"] = grounded.report(answer)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(orjson.dumps(payload), status_code=200, media_type="application/json", headers=headers)

"""Answers with verified citations, as a stream of steps: `retrieved` → `reranked` → `compressed` →
`token`… → `final`. Generation goes through a callable the caller passes (`complete(messages)` returning
the text, or an async iterator of text deltas; later ChatService). A question the documents cannot answer
ends with `final` saying so — without calling the model when nothing was retrieved."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from nexus.rag.citations import NO_ANSWER, NOT_FOUND, verify
from nexus.rag.compress import Passage, compress
from nexus.rag.retrieval import Hit
from nexus.rag.service import RagService, to_search_hit
from nexus.rag.types import SearchHit
from nexus.store.scope import TenantScope

Messages = list[dict[str, str]]
Complete = Callable[[Messages], Awaitable[str] | AsyncIterator[str]]
StepType = Literal["retrieved", "reranked", "compressed", "token", "final"]

SYSTEM_PROMPT = f"""You answer questions using only the numbered sources given.
After every sentence that states a fact, cite its source(s) as [n], e.g. "The pump runs at 40 bar [2]."
Use only facts the cited source states; do not add outside knowledge.
If the sources do not answer the question, reply exactly: {NOT_FOUND}"""


@dataclass(frozen=True, slots=True)
class RagEvent:
    type: StepType
    data: dict[str, Any]


def _hit_brief(hit: SearchHit) -> dict[str, Any]:
    return {
        "file_id": hit.file_id,
        "filename": hit.filename,
        "chunk_id": hit.chunk_id,
        "page": hit.page,
        "section": hit.section,
        "score": hit.score,
    }


def format_sources(passages: Sequence[Passage]) -> str:
    """The numbered sources a model cites as [n]."""
    return "\n\n".join(
        f"[{p.n}] {p.hit.title or p.hit.filename}"
        + (f", page {p.hit.page}" if p.hit.page else "")
        + (f" — {p.hit.section}" if p.hit.section else "")
        + f"\n{p.text}"
        for p in passages
    )


def build_messages(question: str, passages: Sequence[Passage]) -> Messages:
    sources = format_sources(passages)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"},
    ]


async def _generate(complete: Complete, messages: Messages) -> AsyncIterator[str]:
    result = complete(messages)
    if inspect.isawaitable(result):
        yield str(await result)
        return
    async for delta in result:
        yield delta


async def answer(
    rag: RagService,
    scope: TenantScope,
    collection_ids: Sequence[str],
    question: str,
    complete: Complete,
    *,
    k: int = 8,
    budget_tokens: int = 1200,
    file_ids: Sequence[str] | None = None,
) -> AsyncIterator[RagEvent]:
    started = time.perf_counter()
    retriever = rag.c.retriever
    only = frozenset(file_ids) if file_ids is not None else None
    fused: list[tuple[str, Hit]] = []
    for cid in dict.fromkeys(collection_ids):
        collection = await rag.collection_row(scope, cid)
        candidates = await retriever.retrieve(collection.tenant_id, collection.id, question, file_ids=only)
        hits = await retriever.hydrate(
            collection.tenant_id, collection.id, candidates[: retriever.config.rerank_depth]
        )
        fused.extend((collection.id, h) for h in hits)
    fused.sort(key=lambda pair: -pair[1].fused)
    yield RagEvent("retrieved", {"hits": [_hit_brief(to_search_hit(c, h)) for c, h in fused[: k * 2]]})

    by_collection: dict[str, list[Hit]] = {}
    for cid, hit in fused:
        by_collection.setdefault(cid, []).append(hit)
    reranked = [(cid, h) for cid, hits in by_collection.items() for h in retriever.rerank(question, hits)]
    reranked.sort(key=lambda pair: -pair[1].score)
    top = [to_search_hit(c, h) for c, h in reranked[:k]]
    yield RagEvent("reranked", {"hits": [_hit_brief(h) for h in top]})

    passages = compress(question, top, budget_tokens=budget_tokens, count=rag.count_tokens)
    tokens = sum(rag.count_tokens(p.text) for p in passages)
    yield RagEvent(
        "compressed",
        {"passages": [{"n": p.n, **_hit_brief(p.hit), "text": p.text} for p in passages], "tokens": tokens},
    )

    if not passages:
        yield RagEvent("token", {"text": NO_ANSWER})
        yield RagEvent(
            "final",
            {
                "answer": NO_ANSWER,
                "answerable": False,
                "citations": [],
                "unsupported": [],
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return
    parts: list[str] = []
    async for delta in _generate(complete, build_messages(question, passages)):
        parts.append(delta)
        yield RagEvent("token", {"text": delta})
    verified = verify("".join(parts), passages)
    yield RagEvent(
        "final",
        {
            "answer": verified.text,
            "answerable": verified.answerable,
            "citations": [asdict(c) for c in verified.citations],
            "unsupported": list(verified.unsupported),
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )

"""Hybrid retrieval: BM25 and vectors in parallel → reciprocal-rank fusion → learned reranking.

Each stage is a method so the answer pipeline can report it as a step (`retrieved`, `reranked`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nexus.embeddings.base import Embedder
from nexus.rag.features import featurize
from nexus.rag.fusion import Candidate, rrf
from nexus.rag.lexical.base import LexicalIndex
from nexus.rag.records import ChunkRecord
from nexus.rag.rerank import PassThrough, Reranker
from nexus.rag.vectors.base import VectorFilter, VectorStore


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    # How deep each retriever looks; fusion and reranking work on the union.
    depth: int = 100
    rrf_k: int = 60
    lexical_weight: float = 1.0
    vector_weight: float = 1.0
    # The reranker scores this many fused candidates; the rest keep their fused order below them.
    rerank_depth: int = 100


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: ChunkRecord
    score: float
    fused: float
    lexical_rank: int | None = None
    lexical_score: float | None = None
    vector_rank: int | None = None
    vector_score: float | None = None

    def candidate(self) -> Candidate:
        """Back to the fusion record (the reranker's features are computed from it)."""
        return Candidate(
            self.chunk.id,
            self.chunk.file_id,
            self.lexical_rank,
            self.lexical_score,
            self.vector_rank,
            self.vector_score,
            self.fused,
        )


@dataclass(slots=True)
class Timings:
    stages_ms: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stages_ms[stage] = round((now - since) * 1000, 3)
        return now


class Retriever:
    def __init__(
        self,
        lexical: LexicalIndex,
        vectors: VectorStore,
        embedder: Embedder,
        reranker: Reranker | None = None,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.lexical = lexical
        self.vectors = vectors
        self.embedder = embedder
        self.reranker: Reranker = reranker or PassThrough()
        self.config = config or RetrievalConfig()

    async def embed_query(self, query: str) -> np.ndarray:
        vectors = await asyncio.to_thread(self.embedder.embed, [query])
        return np.asarray(vectors[0], dtype=np.float32)

    async def retrieve(
        self,
        tenant: str,
        collection: str,
        query: str,
        *,
        file_ids: frozenset[str] | None = None,
        timings: Timings | None = None,
    ) -> list[Candidate]:
        """Both retrievers at once, fused; no chunk text yet."""
        timings = timings or Timings()
        start = time.perf_counter()
        depth = self.config.depth
        lexical_task = asyncio.ensure_future(self.lexical.search(tenant, collection, query, depth, file_ids))
        try:
            qvec = await self.embed_query(query)
            start = timings.mark("embed", start)
            vector_hits = await self.vectors.search(tenant, collection, qvec, depth, VectorFilter(file_ids))
            lexical_hits = await lexical_task
        finally:
            if not lexical_task.done():
                lexical_task.cancel()
        timings.mark("search", start)
        return rrf(
            [(h.id, h.score) for h in lexical_hits],
            [(h.id, h.file_id, h.score) for h in vector_hits],
            k=self.config.rrf_k,
            lexical_weight=self.config.lexical_weight,
            vector_weight=self.config.vector_weight,
        )

    async def hydrate(self, tenant: str, collection: str, candidates: Sequence[Candidate]) -> list[Hit]:
        """Attach chunk records (dropping ids whose chunk vanished, e.g. deleted meanwhile)."""
        records = await self.lexical.get(tenant, collection, [c.id for c in candidates])
        return [
            Hit(
                chunk=records[c.id],
                score=c.fused,
                fused=c.fused,
                lexical_rank=c.lexical_rank,
                lexical_score=c.lexical_score,
                vector_rank=c.vector_rank,
                vector_score=c.vector_score,
            )
            for c in candidates
            if c.id in records
        ]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        head = list(hits[: self.config.rerank_depth])
        tail = list(hits[self.config.rerank_depth :])
        if not head or isinstance(self.reranker, PassThrough):
            return list(hits)
        candidates = [h.candidate() for h in head]
        scores = self.reranker.score(featurize(query, candidates, [h.chunk for h in head]))
        order = np.argsort(-scores, kind="stable")
        ranked = [_with_score(head[i], float(scores[i])) for i in order]
        floor = min((h.score for h in ranked), default=0.0)
        return ranked + [_with_score(h, floor - 1.0 - i) for i, h in enumerate(tail)]

    async def search(
        self,
        tenant: str,
        collection: str,
        query: str,
        k: int = 10,
        *,
        file_ids: frozenset[str] | None = None,
        timings: Timings | None = None,
    ) -> list[Hit]:
        timings = timings or Timings()
        candidates = await self.retrieve(tenant, collection, query, file_ids=file_ids, timings=timings)
        start = time.perf_counter()
        hits = await self.hydrate(tenant, collection, candidates[: max(k, self.config.rerank_depth)])
        start = timings.mark("hydrate", start)
        ranked = self.rerank(query, hits)
        timings.mark("rerank", start)
        return ranked[:k]


def _with_score(hit: Hit, score: float) -> Hit:
    return Hit(
        hit.chunk, score, hit.fused, hit.lexical_rank, hit.lexical_score, hit.vector_rank, hit.vector_score
    )

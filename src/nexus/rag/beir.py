"""Evaluation on BEIR-layout files: index a corpus (each document one file, chunked like any other),
run the queries through the same `Retriever` the service uses, score documents by their best chunk."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nexus.embeddings.base import Embedder
from nexus.rag.chunking import chunk_document
from nexus.rag.evaluation import CorpusDoc, doc_ranking, ndcg_at, percentile, recall_at
from nexus.rag.ingest import ChunkingConfig, embedding_text, records_for
from nexus.rag.lexical.base import LexicalIndex
from nexus.rag.parsing import parse_text
from nexus.rag.records import ChunkRecord
from nexus.rag.retrieval import Hit, Retriever
from nexus.rag.vectors.base import VectorRecord, VectorStore

Tick = Callable[[int], None]
TENANT = "eval"
COLLECTION = "beir"


@dataclass(frozen=True, slots=True)
class EvalReport:
    ndcg_at_10: float
    recall_at_100: float
    p50_ms: float
    p99_ms: float
    queries: int
    documents: int
    chunks: int
    index_s: float

    def as_json(self) -> dict[str, float | int]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "queries": self.queries,
            "documents": self.documents,
            "chunks": self.chunks,
            "index_s": round(self.index_s, 1),
        }


def corpus_records(corpus: Sequence[CorpusDoc], chunking: ChunkingConfig) -> list[ChunkRecord]:
    records: list[ChunkRecord] = []
    for doc in corpus:
        if not (doc.title.strip() or doc.text.strip()):
            continue
        parsed = parse_text(doc.text or doc.title, title=doc.title)
        chunks = chunk_document(
            parsed, max_tokens=chunking.max_tokens, overlap_tokens=chunking.overlap_tokens
        )
        records.extend(records_for(doc.id, doc.id, parsed, chunks))
    return records


def cache_path(cache_dir: Path, embedder_name: str, texts: Sequence[str]) -> Path:
    digest = hashlib.sha256(embedder_name.encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    return cache_dir / f"{digest.hexdigest()[:24]}.npy"


def embed_cached(
    embedder: Embedder, records: Sequence[ChunkRecord], batch: int, cache_dir: Path | None, tick: Tick
) -> np.ndarray:
    """Embed every record; with `cache_dir`, vectors are kept on disk keyed by embedder and texts."""
    texts = [embedding_text(r) for r in records]
    path = cache_path(cache_dir, embedder.name, texts) if cache_dir is not None else None
    if path is not None:
        if path.exists():
            tick(len(texts))
            return np.load(path)
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(embedder.embed(texts[start : start + batch]))
        tick(len(parts[-1]))
    matrix = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, matrix)
    return matrix


async def index_corpus(
    records: Sequence[ChunkRecord], vectors: np.ndarray, lexical: LexicalIndex, store: VectorStore
) -> None:
    await store.upsert(
        TENANT, COLLECTION, [VectorRecord(r.id, r.file_id, v) for r, v in zip(records, vectors, strict=True)]
    )
    await lexical.add(TENANT, COLLECTION, records)


async def run_queries(
    retriever: Retriever, queries: dict[str, str], depth: int, tick: Tick
) -> tuple[dict[str, list[str]], list[float], dict[str, list[Hit]]]:
    rankings: dict[str, list[str]] = {}
    hits_by_query: dict[str, list[Hit]] = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        start = time.perf_counter()
        hits = await retriever.search(TENANT, COLLECTION, text, depth)
        latencies.append((time.perf_counter() - start) * 1000)
        rankings[qid] = doc_ranking([h.chunk.file_id for h in hits])
        hits_by_query[qid] = hits
        tick(1)
    return rankings, latencies, hits_by_query


def score(
    rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]], latencies: Sequence[float]
) -> tuple[float, float, float, float]:
    judged = [q for q in qrels if q in rankings]
    ndcg = float(np.mean([ndcg_at(rankings[q], qrels[q], 10) for q in judged])) if judged else 0.0
    recall = float(np.mean([recall_at(rankings[q], qrels[q], 100) for q in judged])) if judged else 0.0
    if not latencies:
        return ndcg, recall, 0.0, 0.0
    return ndcg, recall, percentile(latencies, 50), percentile(latencies, 99)


def training_data(
    queries: dict[str, str], hits: dict[str, list[Hit]], qrels: dict[str, dict[str, int]]
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Per judged query: the reranker's feature rows of its fused candidates and their relevance."""
    from nexus.rag.features import featurize

    qids = sorted(q for q in queries if q in qrels and q in hits)
    feats = []
    labels = []
    for q in qids:
        candidates = [h.candidate() for h in hits[q]]
        feats.append(featurize(queries[q], candidates, [h.chunk for h in hits[q]]))
        labels.append(np.array([qrels[q].get(h.chunk.file_id, 0) for h in hits[q]], dtype=np.float32))
    return qids, feats, labels

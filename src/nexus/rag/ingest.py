"""One file's way into a collection: parse (type by content, limits) → chunk → embed in batches →
index in the lexical index and the vector store. Pure library code: the service records status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nexus.embeddings.base import Embedder
from nexus.rag.chunking import Chunk, chunk_document
from nexus.rag.lexical.base import LexicalIndex
from nexus.rag.parsing import Limits, ParsedDocument, parse
from nexus.rag.records import ChunkRecord, chunk_id
from nexus.rag.text import TokenCounter, count_units
from nexus.rag.vectors.base import VectorRecord, VectorStore

Progress = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    max_tokens: int = 200
    overlap_tokens: int = 30
    embed_batch: int = 64


def embedding_text(record: ChunkRecord) -> str:
    """What the vector represents: the chunk in its context (document title, section path)."""
    return "\n".join(part for part in (record.title, record.section, record.text) if part)


def records_for(
    file_id: str, filename: str, doc: ParsedDocument, chunks: Sequence[Chunk]
) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            id=chunk_id(file_id, c.seq),
            file_id=file_id,
            seq=c.seq,
            title=doc.title,
            section=c.section,
            text=c.text,
            start=c.start,
            end=c.end,
            page=c.page,
            page_end=c.page_end,
            filename=filename,
        )
        for c in chunks
    ]


async def embed_records(
    embedder: Embedder, records: Sequence[ChunkRecord], batch: int, progress: Progress | None = None
) -> np.ndarray:
    parts: list[np.ndarray] = []
    for start in range(0, len(records), batch):
        texts = [embedding_text(r) for r in records[start : start + batch]]
        parts.append(await asyncio.to_thread(embedder.embed, texts))
        if progress is not None:
            await progress(min(1.0, (start + batch) / max(len(records), 1)))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


async def index_records(
    tenant: str,
    collection: str,
    records: Sequence[ChunkRecord],
    vectors: np.ndarray,
    lexical: LexicalIndex,
    store: VectorStore,
) -> None:
    file_ids = {r.file_id for r in records}
    # Vectors first, then the lexical rows: a search that runs meanwhile finds a chunk's text only once
    # both exist (hydration drops ids without a chunk record).
    for file_id in file_ids:
        await store.delete(tenant, collection, file_id=file_id)
    await store.upsert(
        tenant, collection, [VectorRecord(r.id, r.file_id, v) for r, v in zip(records, vectors, strict=True)]
    )
    await lexical.add(tenant, collection, records)


async def parse_and_chunk(
    data: bytes,
    filename: str,
    file_id: str,
    limits: Limits,
    config: ChunkingConfig,
    count: TokenCounter = count_units,
) -> tuple[ParsedDocument, list[ChunkRecord]]:
    def work() -> tuple[ParsedDocument, list[ChunkRecord]]:
        doc = parse(data, filename, limits)
        chunks = chunk_document(
            doc, max_tokens=config.max_tokens, overlap_tokens=config.overlap_tokens, count=count
        )
        return doc, records_for(file_id, filename, doc, chunks)

    return await asyncio.to_thread(work)

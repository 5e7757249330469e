"""Assemble the documents area from settings: the vector store is chosen by configuration only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from nexus.config.settings import Settings
from nexus.embeddings.base import Embedder
from nexus.rag.blobs import BlobStore
from nexus.rag.ingest import ChunkingConfig
from nexus.rag.jobs import JobRunner
from nexus.rag.lexical.tantivy import TantivyIndex
from nexus.rag.parsing import Limits
from nexus.rag.rerank import LambdaMartReranker, Reranker
from nexus.rag.retrieval import Retriever
from nexus.rag.service import Components, RagService
from nexus.rag.text import TokenCounter, count_units
from nexus.rag.vectors.base import VectorStore, VectorStoreError
from nexus.rag.vectors.embedded import EmbeddedVectorStore
from nexus.store.store import Store


def rag_dir(settings: Settings) -> Path:
    return settings.data_dir / "rag"


def open_vector_store(settings: Settings) -> VectorStore:
    kind = settings.rag_vector_store
    if kind == "embedded":
        return EmbeddedVectorStore(rag_dir(settings) / "vectors.db")
    if kind == "pgvector":
        from nexus.rag.vectors.pgvector import PgVectorStore

        url = settings.rag_pgvector_url or settings.database_url
        if not url or make_url(url).get_backend_name() != "postgresql":
            raise VectorStoreError(
                "NEXUS_RAG_VECTOR_STORE=pgvector needs NEXUS_RAG_PGVECTOR_URL (or a PostgreSQL NEXUS_DATABASE_URL)"
            )
        return PgVectorStore(url, schema=settings.rag_pgvector_schema)
    from nexus.rag.vectors.qdrant import QdrantVectorStore

    if settings.rag_qdrant_url:
        return QdrantVectorStore(url=settings.rag_qdrant_url)
    return QdrantVectorStore(path=str(rag_dir(settings) / "qdrant"))


def load_reranker(settings: Settings) -> Reranker | None:
    return LambdaMartReranker.load(settings.rag_reranker) if settings.rag_reranker else None


def build_components(
    settings: Settings, embedder: Embedder, *, reranker: Reranker | None = None
) -> Components:
    root = rag_dir(settings)
    lexical = TantivyIndex(root / "lexical")
    vectors = open_vector_store(settings)
    return Components(
        lexical=lexical,
        vectors=vectors,
        embedder=embedder,
        blobs=BlobStore(root / "blobs"),
        retriever=Retriever(lexical, vectors, embedder, reranker or load_reranker(settings)),
    )


def build_rag_service(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    *,
    jobs: JobRunner | None = None,
    count_tokens: TokenCounter = count_units,
    components: Components | None = None,
) -> RagService:
    """What `nexus.runtime.build` calls: the lead passes the shared embedder, the job runner and
    `nexus.providers.tokens.estimate_tokens` as `count_tokens`."""
    return RagService(
        store,
        components or build_components(settings, embedder),
        jobs=jobs,
        limits=Limits(max_bytes=settings.rag_max_file_bytes, max_pages=settings.rag_max_pages),
        chunking=ChunkingConfig(
            max_tokens=settings.rag_chunk_tokens, overlap_tokens=settings.rag_chunk_overlap
        ),
        count_tokens=count_tokens,
    )

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.rag.factory import build_rag_service
from nexus.rag.jobs import LocalJobs
from nexus.rag.service import RagService
from nexus.store import open_store


@pytest.fixture
async def rag(tmp_path: Path) -> AsyncIterator[RagService]:
    """The real service on a real SQLite store, Tantivy and the embedded vector store, in a tmp dir.
    The hashing embedder keeps tests fast and deterministic (MiniLM quality is measured in bench/)."""
    settings = Settings(data_dir=tmp_path)
    store = await open_store(settings)
    service = build_rag_service(settings, store, HashingEmbedder(dim=256), jobs=LocalJobs(concurrency=2))
    try:
        yield service
    finally:
        await service.close()
        await store.close()

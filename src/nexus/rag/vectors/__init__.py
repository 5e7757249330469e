"""Vector stores behind the `VectorStore` seam; `open_vector_store` picks one from configuration."""

from nexus.rag.vectors.base import (
    VectorFilter,
    VectorHit,
    VectorRecord,
    VectorStore,
    VectorStoreError,
)
from nexus.rag.vectors.embedded import EmbeddedVectorStore

__all__ = [
    "EmbeddedVectorStore",
    "VectorFilter",
    "VectorHit",
    "VectorRecord",
    "VectorStore",
    "VectorStoreError",
]

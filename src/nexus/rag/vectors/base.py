"""The `VectorStore` seam: upsert / delete / search, always within (tenant, collection).

Scores are cosine similarities of L2-normalised vectors (higher is better) on every backend, so fusion
and reranking never depend on which store is configured. One contract suite (tests/rag/test_vector_contract.py)
runs against every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class VectorRecord:
    id: str
    file_id: str
    vector: np.ndarray


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    file_id: str
    score: float


@dataclass(frozen=True, slots=True)
class VectorFilter:
    """Restrict a search to some documents of the collection (None = all of them)."""

    file_ids: frozenset[str] | None = None


@runtime_checkable
class VectorStore(Protocol):
    name: str

    async def upsert(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None: ...

    async def delete(
        self,
        tenant: str,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        file_id: str | None = None,
    ) -> int:
        """Remove the named vectors and/or every vector of `file_id`; returns how many went."""
        ...

    async def drop(self, tenant: str, collection: str) -> None: ...

    async def search(
        self,
        tenant: str,
        collection: str,
        vector: np.ndarray,
        k: int,
        filter: VectorFilter | None = None,
    ) -> list[VectorHit]: ...

    async def count(self, tenant: str, collection: str) -> int: ...

    async def close(self) -> None: ...


class VectorStoreError(RuntimeError):
    """The backend failed (unreachable server, missing extension); the message says which and why."""


def as_matrix(records: Sequence[VectorRecord]) -> np.ndarray:
    if not records:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.stack([np.asarray(r.vector, dtype=np.float32) for r in records]))

"""The lexical index seam. It also serves chunk records by id: the text a hit came from, for reranking,
compression and citation checks, without a second round trip to another store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nexus.rag.records import ChunkRecord


@dataclass(frozen=True, slots=True)
class LexicalHit:
    id: str
    score: float


class LexicalIndex(Protocol):
    async def add(self, tenant: str, collection: str, records: Sequence[ChunkRecord]) -> None: ...

    async def delete_file(self, tenant: str, collection: str, file_id: str) -> int: ...

    async def drop(self, tenant: str, collection: str) -> None: ...

    async def search(
        self, tenant: str, collection: str, query: str, k: int, file_ids: frozenset[str] | None = None
    ) -> list[LexicalHit]: ...

    async def get(self, tenant: str, collection: str, ids: Sequence[str]) -> dict[str, ChunkRecord]: ...

    async def count(self, tenant: str, collection: str, file_id: str | None = None) -> int: ...

    async def close(self) -> None: ...

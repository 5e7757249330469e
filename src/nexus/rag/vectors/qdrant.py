"""Qdrant (optional extra `nexus[qdrant]`): local mode (a directory, no server) or a Qdrant server URL.
One Qdrant collection per tenant collection; the chunk id and file id ride in the payload."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from nexus.rag.records import namespace
from nexus.rag.vectors.base import VectorFilter, VectorHit, VectorRecord, VectorStoreError, as_matrix


class QdrantVectorStore:
    name = "qdrant"

    def __init__(
        self, *, path: str | None = None, url: str | None = None, api_key: str | None = None
    ) -> None:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise VectorStoreError(
                "the Qdrant backend needs the optional extra: pip install 'nexus[qdrant]'"
            ) from None
        self._client = (
            QdrantClient(url=url, api_key=api_key) if url else QdrantClient(path=path or ":memory:")
        )
        # Local mode is not thread-safe; a server client is, but one lock keeps both simple.
        self._lock = threading.Lock()

    @staticmethod
    def _name(tenant: str, collection: str) -> str:
        return f"nx_{namespace(tenant, collection)}"

    @staticmethod
    def _point_id(ident: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, ident))

    def _exists(self, name: str) -> bool:
        return bool(self._client.collection_exists(name))

    def _upsert(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None:
        from qdrant_client import models

        if not records:
            return
        data = as_matrix(records)
        name = self._name(tenant, collection)
        with self._lock:
            if not self._exists(name):
                self._client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=data.shape[1], distance=models.Distance.COSINE),
                )
            self._client.upsert(
                name,
                points=[
                    models.PointStruct(
                        id=self._point_id(r.id), vector=v.tolist(), payload={"id": r.id, "file_id": r.file_id}
                    )
                    for r, v in zip(records, data, strict=True)
                ],
            )

    def _delete(self, tenant: str, collection: str, ids: Sequence[str] | None, file_id: str | None) -> int:
        from qdrant_client import models

        name = self._name(tenant, collection)
        with self._lock:
            if not self._exists(name):
                return 0
            before = self._client.count(name, exact=True).count
            if ids:
                self._client.delete(
                    name, points_selector=models.PointIdsList(points=[self._point_id(i) for i in ids])
                )
            if file_id is not None:
                condition = models.FieldCondition(key="file_id", match=models.MatchValue(value=file_id))
                self._client.delete(
                    name, points_selector=models.FilterSelector(filter=models.Filter(must=[condition]))
                )
            return int(before - self._client.count(name, exact=True).count)

    def _drop(self, tenant: str, collection: str) -> None:
        name = self._name(tenant, collection)
        with self._lock:
            if self._exists(name):
                self._client.delete_collection(name)

    def _search(
        self, tenant: str, collection: str, vector: np.ndarray, k: int, filter: VectorFilter | None
    ) -> list[VectorHit]:
        from qdrant_client import models

        name = self._name(tenant, collection)
        query_filter: Any = None
        if filter is not None and filter.file_ids is not None:
            if not filter.file_ids:
                return []
            query_filter = models.Filter(
                must=[
                    models.FieldCondition(key="file_id", match=models.MatchAny(any=sorted(filter.file_ids)))
                ]
            )
        with self._lock:
            if k <= 0 or not self._exists(name):
                return []
            response = self._client.query_points(
                name,
                query=np.asarray(vector, dtype=np.float32).reshape(-1).tolist(),
                limit=k,
                query_filter=query_filter,
                with_payload=True,
            )
        return [
            VectorHit(str(p.payload["id"]), str(p.payload["file_id"]), float(p.score))
            for p in response.points
            if p.payload
        ]

    def _count(self, tenant: str, collection: str) -> int:
        name = self._name(tenant, collection)
        with self._lock:
            return int(self._client.count(name, exact=True).count) if self._exists(name) else 0

    async def upsert(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None:
        await asyncio.to_thread(self._upsert, tenant, collection, records)

    async def delete(
        self, tenant: str, collection: str, *, ids: Sequence[str] | None = None, file_id: str | None = None
    ) -> int:
        return await asyncio.to_thread(self._delete, tenant, collection, ids, file_id)

    async def drop(self, tenant: str, collection: str) -> None:
        await asyncio.to_thread(self._drop, tenant, collection)

    async def search(
        self, tenant: str, collection: str, vector: np.ndarray, k: int, filter: VectorFilter | None = None
    ) -> list[VectorHit]:
        return await asyncio.to_thread(self._search, tenant, collection, vector, k, filter)

    async def count(self, tenant: str, collection: str) -> int:
        return await asyncio.to_thread(self._count, tenant, collection)

    async def close(self) -> None:
        with self._lock:
            self._client.close()

"""The embedded default: vectors kept durably in SQLite, searched exactly in memory (numpy, one matrix per
tenant collection, loaded lazily).

Chosen by measurement (100k x 384 float32 on this 2-core box under heavy load from other jobs):
exact numpy 43-54 ms p50, sqlite-vec brute force (vec0 through apsw) 113 ms p50, usearch HNSW 6.8 ms p50
but ~600 s to build 100k. See docs/rag.md for the figures and bench/bench_rag_search.py. Exact search has perfect recall, needs no index build, deletes are immediate, and
per-collection matrices mean a query only scans its own collection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nexus.rag.records import namespace
from nexus.rag.vectors.base import VectorFilter, VectorHit, VectorRecord, VectorStoreError, as_matrix


@dataclass
class _Matrix:
    ids: list[str] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    size: int = 0

    def upsert(self, records: Sequence[VectorRecord], matrix: np.ndarray) -> None:
        if self.data.shape[1] == 0:
            self.data = np.zeros((max(64, len(records)), matrix.shape[1]), dtype=np.float32)
        if matrix.shape[1] != self.data.shape[1]:
            raise VectorStoreError(f"vector dimension {matrix.shape[1]} != collection's {self.data.shape[1]}")
        for record, vector in zip(records, matrix, strict=True):
            row = self.rows.get(record.id)
            if row is None:
                if self.size == self.data.shape[0]:
                    grown = np.zeros((self.data.shape[0] * 2, self.data.shape[1]), dtype=np.float32)
                    grown[: self.size] = self.data[: self.size]
                    self.data = grown
                row = self.size
                self.size += 1
                self.ids.append(record.id)
                self.file_ids.append(record.file_id)
                self.rows[record.id] = row
            else:
                self.file_ids[row] = record.file_id
            self.data[row] = vector

    def remove(self, doomed: set[str]) -> int:
        keep = [i for i, ident in enumerate(self.ids) if ident not in doomed]
        removed = self.size - len(keep)
        if removed:
            self.data[: len(keep)] = self.data[keep]
            self.ids = [self.ids[i] for i in keep]
            self.file_ids = [self.file_ids[i] for i in keep]
            self.size = len(keep)
            self.rows = {ident: i for i, ident in enumerate(self.ids)}
        return removed


class EmbeddedVectorStore:
    name = "embedded"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (ns TEXT NOT NULL, id TEXT NOT NULL, file_id TEXT NOT NULL, "
            "dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (ns, id))"
        )
        self._conn.execute("CREATE INDEX IF NOT EXISTS vectors_file ON vectors (ns, file_id)")
        self._lock = threading.RLock()
        self._cache: dict[str, _Matrix] = {}

    def _matrix(self, ns: str) -> _Matrix:
        cached = self._cache.get(ns)
        if cached is not None:
            return cached
        matrix = _Matrix()
        rows = self._conn.execute("SELECT id, file_id, dim, vec FROM vectors WHERE ns = ?", (ns,)).fetchall()
        if rows:
            records = [VectorRecord(r[0], r[1], np.frombuffer(r[3], dtype=np.float32)) for r in rows]
            matrix.upsert(records, as_matrix(records))
        self._cache[ns] = matrix
        return matrix

    def upsert_sync(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        ns = namespace(tenant, collection)
        data = as_matrix(records)
        with self._lock:
            matrix = self._matrix(ns)
            if matrix.size and data.shape[1] != matrix.data.shape[1]:
                raise VectorStoreError(
                    f"vector dimension {data.shape[1]} != collection's {matrix.data.shape[1]}"
                )
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO vectors (ns, id, file_id, dim, vec) VALUES (?,?,?,?,?)",
                    [
                        (ns, r.id, r.file_id, data.shape[1], v.tobytes())
                        for r, v in zip(records, data, strict=True)
                    ],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            matrix.upsert(records, data)

    def delete_sync(
        self, tenant: str, collection: str, ids: Sequence[str] | None = None, file_id: str | None = None
    ) -> int:
        ns = namespace(tenant, collection)
        with self._lock:
            matrix = self._matrix(ns)
            doomed = set(ids or ())
            if file_id is not None:
                doomed.update(i for i, f in zip(matrix.ids, matrix.file_ids, strict=True) if f == file_id)
            if not doomed:
                return 0
            self._conn.executemany("DELETE FROM vectors WHERE ns = ? AND id = ?", [(ns, i) for i in doomed])
            return matrix.remove(doomed)

    def drop_sync(self, tenant: str, collection: str) -> None:
        ns = namespace(tenant, collection)
        with self._lock:
            self._conn.execute("DELETE FROM vectors WHERE ns = ?", (ns,))
            self._cache.pop(ns, None)

    def search_sync(
        self, tenant: str, collection: str, vector: np.ndarray, k: int, filter: VectorFilter | None = None
    ) -> list[VectorHit]:
        ns = namespace(tenant, collection)
        with self._lock:
            matrix = self._matrix(ns)
            if matrix.size == 0 or k <= 0:
                return []
            data = matrix.data[: matrix.size]
            ids, file_ids = matrix.ids, matrix.file_ids
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != data.shape[1]:
            raise VectorStoreError(f"query dimension {query.shape[0]} != collection's {data.shape[1]}")
        # einsum, not `@`: a matrix-vector product through multithreaded BLAS measured 20-50x slower on a
        # busy 2-core box (threads spin waiting for each other); the vector is memory-bound anyway.
        scores = np.einsum("ij,j->i", data, query)
        if filter is not None and filter.file_ids is not None:
            allowed = np.fromiter((f in filter.file_ids for f in file_ids), dtype=bool, count=len(file_ids))
            scores = np.where(allowed, scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [VectorHit(ids[i], file_ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def count_sync(self, tenant: str, collection: str) -> int:
        with self._lock:
            return self._matrix(namespace(tenant, collection)).size

    async def upsert(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None:
        await asyncio.to_thread(self.upsert_sync, tenant, collection, records)

    async def delete(
        self, tenant: str, collection: str, *, ids: Sequence[str] | None = None, file_id: str | None = None
    ) -> int:
        return await asyncio.to_thread(self.delete_sync, tenant, collection, ids, file_id)

    async def drop(self, tenant: str, collection: str) -> None:
        await asyncio.to_thread(self.drop_sync, tenant, collection)

    async def search(
        self, tenant: str, collection: str, vector: np.ndarray, k: int, filter: VectorFilter | None = None
    ) -> list[VectorHit]:
        return await asyncio.to_thread(self.search_sync, tenant, collection, vector, k, filter)

    async def count(self, tenant: str, collection: str) -> int:
        return await asyncio.to_thread(self.count_sync, tenant, collection)

    async def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._cache.clear()

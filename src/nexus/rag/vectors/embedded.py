"""The embedded default: vectors kept durably in SQLite and searched in memory, one matrix per tenant
collection (loaded lazily): exactly below 20k vectors, through a faiss IVF-Flat index above.

Chosen by measurement (100k x 384 float32 on this 2-core box under heavy load from other jobs; figures
in docs/rag.md, bench/bench_rag_search.py): exact numpy 43-116 ms p50, sqlite-vec brute force (vec0
through apsw) 113 ms, usearch HNSW 6.8 ms but ~600 s to build 100k. Exact search has perfect recall and
instant deletes, and per-collection matrices mean a query only scans its own collection; the IVF keeps
large collections fast (seconds to build, incremental adds and removals, rebuilt after 4x growth).
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

# Collections at least this large are searched through an inverted-file index (faiss IVF-Flat, cosine),
# probing ~5% of its lists; smaller ones (and filtered searches) are scanned exactly.
IVF_MIN = 20_000
_IVF_GROWTH = 4


class _Ivf:
    """Lists of vectors around k-means centroids (faiss); keys are the matrix's stable integer keys."""

    def __init__(self, data: np.ndarray, keys: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)  # one query is small work; threads only spin on a busy box
        n, dim = data.shape
        nlist = max(16, int(np.sqrt(n)))
        self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = data[np.random.default_rng(0).choice(n, min(n, nlist * 40), replace=False)]
        self.index.train(sample)
        self.index.add_with_ids(data, keys)
        self.index.nprobe = max(8, nlist // 20)
        self.trained_at = n

    def add(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        self.index.add_with_ids(vectors, keys)

    def remove(self, keys: np.ndarray) -> None:
        import faiss

        self.index.remove_ids(faiss.IDSelectorBatch(keys))

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        _, found = self.index.search(query.reshape(1, -1), k)
        return found[0][found[0] >= 0]


@dataclass
class _Matrix:
    ids: list[str] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    size: int = 0
    # Stable integer keys (rows move when others are removed; keys do not): the IVF's ids.
    keys: list[int] = field(default_factory=list)
    key_rows: dict[int, int] = field(default_factory=dict)
    next_key: int = 0
    ivf: _Ivf | None = None

    def ann(self) -> _Ivf | None:
        """The IVF for a large collection, built (or rebuilt after 4x growth) on demand."""
        if self.size < IVF_MIN:
            self.ivf = None
        elif self.ivf is None or self.size > _IVF_GROWTH * self.ivf.trained_at:
            self.ivf = _Ivf(self.data[: self.size], np.asarray(self.keys, dtype=np.int64))
        return self.ivf

    def upsert(self, records: Sequence[VectorRecord], matrix: np.ndarray) -> None:
        if self.data.shape[1] == 0:
            self.data = np.zeros((max(64, len(records)), matrix.shape[1]), dtype=np.float32)
        if matrix.shape[1] != self.data.shape[1]:
            raise VectorStoreError(f"vector dimension {matrix.shape[1]} != collection's {self.data.shape[1]}")
        changed: list[int] = []
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
                self.keys.append(self.next_key)
                self.key_rows[self.next_key] = row
                self.next_key += 1
            else:
                self.file_ids[row] = record.file_id
            self.data[row] = vector
            changed.append(row)
        if self.ivf is not None and changed:
            keys = np.asarray([self.keys[r] for r in changed], dtype=np.int64)
            self.ivf.remove(keys)
            self.ivf.add(self.data[changed], keys)

    def remove(self, doomed: set[str]) -> int:
        keep = [i for i, ident in enumerate(self.ids) if ident not in doomed]
        removed = self.size - len(keep)
        if removed:
            if self.ivf is not None:
                self.ivf.remove(
                    np.asarray([self.keys[self.rows[i]] for i in doomed if i in self.rows], dtype=np.int64)
                )
            self.data[: len(keep)] = self.data[keep]
            self.ids = [self.ids[i] for i in keep]
            self.file_ids = [self.file_ids[i] for i in keep]
            self.keys = [self.keys[i] for i in keep]
            self.size = len(keep)
            self.rows = {ident: i for i, ident in enumerate(self.ids)}
            self.key_rows = {key: i for i, key in enumerate(self.keys)}
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
            ivf = matrix.ann() if filter is None or filter.file_ids is None else None
            if ivf is not None:
                rows = [matrix.key_rows[int(key)] for key in ivf.search(query, k)]
                found = np.einsum("ij,j->i", data[rows], query) if rows else np.zeros(0, dtype=np.float32)
                ranked = sorted(zip(rows, found.tolist(), strict=True), key=lambda pair: -pair[1])
                return [VectorHit(ids[r], file_ids[r], score) for r, score in ranked]
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

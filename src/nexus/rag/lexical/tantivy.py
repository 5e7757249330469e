"""BM25 by Tantivy (a Rust search engine; `tantivy` on PyPI), one index directory per tenant collection.

Chosen by measurement on SciFact (809 train queries, 5,183 abstracts, this 2-core box under load):
Tantivy nDCG@10 0.700, query p50 0.5 ms; SQLite FTS5 (porter) 0.690-0.695, p50 42 ms. Incremental by
construction: adding or deleting a file writes a small segment (or delete markers) that Tantivy merges in
the background; nothing is rebuilt. Per-collection indexes keep BM25's statistics per collection, so one
tenant's corpus never shifts another's scores. Title and text are indexed as one field (a separate,
boosted title field measured worse: 0.675). English stemming; stopwords dropped from queries.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nexus.rag.lexical.base import LexicalHit
from nexus.rag.lexical.chunks import ChunkTable
from nexus.rag.records import ChunkRecord, namespace
from nexus.rag.text import STOPWORDS

_QUERY_WORD = re.compile(r"[a-z0-9]+")
_MAX_TERMS = 64
_WRITER_HEAP = 20_000_000


def query_text(query: str) -> str:
    """Any user text → plain words only, so no query-parser syntax ever reaches Tantivy."""
    words = _QUERY_WORD.findall(query.lower())
    kept = [w for w in words if w not in STOPWORDS] or words
    return " ".join(list(dict.fromkeys(kept))[:_MAX_TERMS])


class TantivyIndex:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.chunks = ChunkTable(self.root / "chunks.db")
        self._indexes: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._schema: Any = None

    def _get_schema(self) -> Any:
        if self._schema is None:
            import tantivy

            builder = tantivy.SchemaBuilder()
            builder.add_text_field("id", stored=True, tokenizer_name="raw")
            builder.add_text_field("file_id", stored=False, tokenizer_name="raw")
            builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
            self._schema = builder.build()
        return self._schema

    def _index(self, ns: str, create: bool) -> Any:
        import tantivy

        with self._lock:
            index = self._indexes.get(ns)
            if index is not None:
                return index
            path = self.root / "bm25" / ns
            if not path.exists():
                if not create:
                    return None
                path.mkdir(parents=True)
            index = tantivy.Index(self._get_schema(), path=str(path))
            self._indexes[ns] = index
            return index

    def _write(self, ns: str, records: Sequence[ChunkRecord], delete_file: str | None) -> None:
        import tantivy

        index = self._index(ns, create=bool(records))
        if index is None:
            return
        with self._lock:
            writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            try:
                for file_id in {r.file_id for r in records} | ({delete_file} if delete_file else set()):
                    writer.delete_documents_by_term("file_id", file_id)
                for r in records:
                    body = "\n".join(part for part in (r.title, r.section, r.text) if part)
                    writer.add_document(tantivy.Document(id=r.id, file_id=r.file_id, body=body))
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            index.reload()

    # ---- sync core (run in a worker thread) ------------------------------------------------------------

    def add_sync(self, tenant: str, collection: str, records: Sequence[ChunkRecord]) -> None:
        if not records:
            return
        ns = namespace(tenant, collection)
        # Re-adding a file replaces its rows in both places: ingestion is idempotent.
        self.chunks.replace_files(ns, records)
        self._write(ns, records, None)

    def delete_file_sync(self, tenant: str, collection: str, file_id: str) -> int:
        ns = namespace(tenant, collection)
        removed = self.chunks.delete_file(ns, file_id)
        self._write(ns, (), file_id)
        return removed

    def drop_sync(self, tenant: str, collection: str) -> None:
        ns = namespace(tenant, collection)
        self.chunks.drop(ns)
        with self._lock:
            self._indexes.pop(ns, None)
            shutil.rmtree(self.root / "bm25" / ns, ignore_errors=True)

    def search_sync(
        self, tenant: str, collection: str, query: str, k: int, file_ids: frozenset[str] | None = None
    ) -> list[LexicalHit]:
        import tantivy

        index = self._index(namespace(tenant, collection), create=False)
        text = query_text(query)
        if index is None or not text or k <= 0 or (file_ids is not None and not file_ids):
            return []
        parsed = index.parse_query(text, ["body"])
        if file_ids is not None:
            only = tantivy.Query.term_set_query(self._get_schema(), "file_id", sorted(file_ids))
            parsed = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, parsed),
                    (tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)),
                ]
            )
        searcher = index.searcher()
        result = searcher.search(parsed, k)
        return [LexicalHit(searcher.doc(address)["id"][0], float(score)) for score, address in result.hits]

    def get_sync(self, tenant: str, collection: str, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        return self.chunks.get(namespace(tenant, collection), ids)

    def count_sync(self, tenant: str, collection: str, file_id: str | None = None) -> int:
        return self.chunks.count(namespace(tenant, collection), file_id)

    def indexed_sync(self, tenant: str, collection: str) -> int:
        """Documents the BM25 index itself holds (the contract tests check both places)."""
        index = self._index(namespace(tenant, collection), create=False)
        return 0 if index is None else int(index.searcher().num_docs)

    # ---- the async protocol ------------------------------------------------------------------------

    async def add(self, tenant: str, collection: str, records: Sequence[ChunkRecord]) -> None:
        await asyncio.to_thread(self.add_sync, tenant, collection, records)

    async def delete_file(self, tenant: str, collection: str, file_id: str) -> int:
        return await asyncio.to_thread(self.delete_file_sync, tenant, collection, file_id)

    async def drop(self, tenant: str, collection: str) -> None:
        await asyncio.to_thread(self.drop_sync, tenant, collection)

    async def search(
        self, tenant: str, collection: str, query: str, k: int, file_ids: frozenset[str] | None = None
    ) -> list[LexicalHit]:
        return await asyncio.to_thread(self.search_sync, tenant, collection, query, k, file_ids)

    async def get(self, tenant: str, collection: str, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        return await asyncio.to_thread(self.get_sync, tenant, collection, ids)

    async def count(self, tenant: str, collection: str, file_id: str | None = None) -> int:
        return await asyncio.to_thread(self.count_sync, tenant, collection, file_id)

    async def close(self) -> None:
        self.chunks.close()
        with self._lock:
            self._indexes.clear()

"""`RagService`: the use cases every door calls (OpenAI Files/Vector Stores API, /rag-chat, grounded
nexus-auto, the CLI). Typed, tenant-scoped by a `TenantScope` the door builds from its caller; another
tenant's collection or file is `NotFound`, exactly like one that does not exist."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nexus.embeddings.base import Embedder
from nexus.rag.blobs import BlobStore, content_hash
from nexus.rag.errors import DuplicateContent, FileTooLarge, IndexMismatch, IngestError
from nexus.rag.ingest import ChunkingConfig, embed_records, index_records, parse_and_chunk
from nexus.rag.jobs import JobRunner, LocalJobs
from nexus.rag.lexical.base import LexicalIndex
from nexus.rag.parsing import Limits
from nexus.rag.retrieval import Hit, Retriever, Timings
from nexus.rag.text import TokenCounter, count_units
from nexus.rag.types import CollectionInfo, FileInfo, Grounding, SearchHit, SearchResult
from nexus.rag.vectors.base import VectorStore
from nexus.store.errors import NotFound
from nexus.store.models_rag import RagCollection, RagFile
from nexus.store.repos.rag import RagCollections, RagFiles
from nexus.store.scope import TenantScope
from nexus.store.store import Store

log = logging.getLogger("nexus.rag")
INGEST_JOB = "rag.ingest"


@dataclass(frozen=True, slots=True)
class Components:
    lexical: LexicalIndex
    vectors: VectorStore
    embedder: Embedder
    blobs: BlobStore
    retriever: Retriever


class RagService:
    def __init__(
        self,
        store: Store,
        components: Components,
        *,
        jobs: JobRunner | None = None,
        limits: Limits | None = None,
        chunking: ChunkingConfig | None = None,
        count_tokens: TokenCounter = count_units,
    ) -> None:
        self.store = store
        self.c = components
        self.limits = limits or Limits()
        self.chunking = chunking or ChunkingConfig()
        self.count_tokens = count_tokens
        self.jobs: JobRunner = jobs or LocalJobs()
        self.jobs.register(INGEST_JOB, self.run_ingest)

    # ---- repositories ---------------------------------------------------------------------------------

    def _collections(self, scope: TenantScope) -> RagCollections:
        return RagCollections(self.store.sessions, scope)

    def _files(self, scope: TenantScope) -> RagFiles:
        return RagFiles(self.store.sessions, scope)

    async def collection_row(self, scope: TenantScope, collection_id: str) -> RagCollection:
        return await self._collections(scope).get(collection_id)

    # ---- collections ----------------------------------------------------------------------------------

    async def create_collection(
        self, scope: TenantScope, name: str, meta: dict[str, Any] | None = None
    ) -> CollectionInfo:
        row = await self._collections(scope).create(
            name, embedder=self.c.embedder.name, dim=self.c.embedder.dim, meta=meta
        )
        return _collection_info(row, {})

    async def collection_by_name(
        self, scope: TenantScope, name: str, *, create: bool = False
    ) -> CollectionInfo:
        row = await self._collections(scope).by_name(name)
        if row is None:
            if not create:
                raise NotFound("collection", name)
            return await self.create_collection(scope, name)
        return _collection_info(row, await self._files(scope).counts(row.id))

    async def get_collection(self, scope: TenantScope, collection_id: str) -> CollectionInfo:
        row = await self.collection_row(scope, collection_id)
        return _collection_info(row, await self._files(scope).counts(row.id))

    async def list_collections(self, scope: TenantScope, *, limit: int | None = None) -> list[CollectionInfo]:
        rows = await self._collections(scope).list(limit=limit)
        return [_collection_info(r, await self._files(scope).counts(r.id)) for r in rows]

    async def update_collection(
        self,
        scope: TenantScope,
        collection_id: str,
        *,
        name: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> CollectionInfo:
        row = await self.collection_row(scope, collection_id)
        await self._collections(scope).update_fields(row.id, name=name, meta=meta)
        return await self.get_collection(scope, row.id)

    async def delete_collection(self, scope: TenantScope, collection_id: str) -> None:
        row = await self.collection_row(scope, collection_id)
        files = await self._files(scope).list(row.id)
        await self.c.vectors.drop(row.tenant_id, row.id)
        await self.c.lexical.drop(row.tenant_id, row.id)
        await self._collections(scope).remove(row.id)
        for f in files:
            await self._forget_blob(scope, row.tenant_id, f.content_hash)

    # ---- files ----------------------------------------------------------------------------------------

    async def add_file(
        self,
        scope: TenantScope,
        collection_id: str,
        data: bytes,
        filename: str,
        meta: dict[str, Any] | None = None,
        *,
        file_id: str | None = None,
    ) -> FileInfo:
        """Accept a file and queue its ingestion; returns at once with status `in_progress` (or the
        existing file when the same bytes are already in the collection).

        `file_id` names the file (the OpenAI door: a vector-store file is addressed by its upload's id);
        the same bytes already there under another id are `DuplicateContent`."""
        collection = await self.collection_row(scope, collection_id)
        if len(data) > self.limits.max_bytes:
            raise FileTooLarge(f"the file is {len(data)} bytes; the limit is {self.limits.max_bytes}")
        digest = content_hash(data)
        files = self._files(scope)
        existing = await files.by_hash(collection.id, digest)
        if existing is not None and file_id is not None and existing.id != file_id:
            raise DuplicateContent(
                f"the same content is already in this collection as {existing.id.split('@')[0]}"
            )
        if existing is None and file_id is not None and await files.find(file_id) is not None:
            raise DuplicateContent(f"the file {file_id} is already in this collection")
        if existing is not None and existing.status != "failed":
            return _file_info(existing, duplicate=True)
        self.c.blobs.put(collection.tenant_id, data)
        if existing is None:
            row = await files.create(
                collection.id,
                filename=filename,
                content_hash=digest,
                size=len(data),
                meta=meta,
                file_id=file_id,
            )
        else:  # a failed file sent again: try again (the reason might have been transient)
            await files.update_status(
                existing.id, status="in_progress", progress=0.0, error=None, error_code=None
            )
            row = await files.get(existing.id)
        payload = {"tenant": collection.tenant_id, "collection_id": collection.id, "file_id": row.id}
        await self.jobs.enqueue(INGEST_JOB, payload, idempotency_key=row.id)
        return _file_info(row)

    async def resume_pending(self) -> int:
        """Queue again every file left `in_progress` (a process stopped while it ingested); start-up calls
        this. Ingestion is idempotent, so a file another process is still ingesting only runs twice."""
        files = RagFiles(self.store.sessions, TenantScope.system())
        pending = await files.all(files.select().where(RagFile.status == "in_progress"))
        for row in pending:
            payload = {"tenant": row.tenant_id, "collection_id": row.collection_id, "file_id": row.id}
            await self.jobs.enqueue(INGEST_JOB, payload, idempotency_key=row.id)
        return len(pending)

    async def run_ingest(self, payload: dict[str, Any]) -> None:
        """The job body: parse, chunk, embed, index; the file row ends `completed` or `failed` + reason."""
        scope = TenantScope(str(payload["tenant"]))
        files = self._files(scope)
        row = await files.find(str(payload["file_id"]))
        if row is None:  # deleted before the job ran
            return
        tenant, collection_id = row.tenant_id, row.collection_id

        async def progress(fraction: float) -> None:
            await files.update_status(row.id, progress=round(0.1 + 0.8 * fraction, 3))

        try:
            collection = await self.collection_row(scope, collection_id)
            self._check_embedder(collection)
            data = self.c.blobs.get(tenant, row.content_hash)
            doc, records = await parse_and_chunk(
                data, row.filename, row.id, self.limits, self.chunking, self.count_tokens
            )
            await files.update_status(
                row.id, kind=doc.kind, title=doc.title[:500], pages=doc.pages, progress=0.1
            )
            vectors = await embed_records(self.c.embedder, records, self.chunking.embed_batch, progress)
            if await files.find(row.id) is None:
                return  # deleted while we embedded: index nothing
            await index_records(tenant, collection_id, records, vectors, self.c.lexical, self.c.vectors)
            await files.update_status(row.id, status="completed", progress=1.0, chunks=len(records))
            if await files.find(row.id) is None:  # deleted during indexing: undo what we wrote
                await self._unindex(tenant, collection_id, row.id)
        except IngestError as exc:
            await self._fail(files, tenant, collection_id, row.id, exc.code, str(exc))
        except (IndexMismatch, NotFound) as exc:
            await self._fail(
                files, tenant, collection_id, row.id, getattr(exc, "code", "not_found"), str(exc)
            )
        except Exception as exc:  # an index or embedder failure: the file fails, the collection stays intact
            log.exception("ingestion of %s failed", row.id)
            await self._fail(
                files,
                tenant,
                collection_id,
                row.id,
                "internal_error",
                f"ingestion failed: {type(exc).__name__}",
            )

    async def _fail(
        self, files: RagFiles, tenant: str, collection_id: str, file_id: str, code: str, reason: str
    ) -> None:
        await self._unindex(tenant, collection_id, file_id)
        await files.update_status(file_id, status="failed", error_code=code, error=reason[:2000])

    async def _unindex(self, tenant: str, collection_id: str, file_id: str) -> None:
        await self.c.vectors.delete(tenant, collection_id, file_id=file_id)
        await self.c.lexical.delete_file(tenant, collection_id, file_id)

    def _check_embedder(self, collection: RagCollection) -> None:
        if collection.dim and collection.dim != self.c.embedder.dim:
            raise IndexMismatch(
                f"collection {collection.id} holds {collection.dim}-d vectors of {collection.embedder!r}; "
                f"the configured embedder {self.c.embedder.name!r} makes {self.c.embedder.dim}-d ones"
            )

    async def get_file(self, scope: TenantScope, collection_id: str, file_id: str) -> FileInfo:
        collection = await self.collection_row(scope, collection_id)
        row = await self._files(scope).in_collection(collection.id, file_id)
        if row is None:
            raise NotFound("file", file_id)
        return _file_info(row)

    async def list_files(
        self, scope: TenantScope, collection_id: str, *, status: str | None = None, limit: int | None = None
    ) -> list[FileInfo]:
        collection = await self.collection_row(scope, collection_id)
        return [
            _file_info(r) for r in await self._files(scope).list(collection.id, status=status, limit=limit)
        ]

    async def delete_file(self, scope: TenantScope, collection_id: str, file_id: str) -> None:
        """Remove every trace: vectors, lexical rows, chunk records, the row, and the bytes."""
        collection = await self.collection_row(scope, collection_id)
        files = self._files(scope)
        row = await files.in_collection(collection.id, file_id)
        if row is None:
            raise NotFound("file", file_id)
        await files.remove(row.id)
        await self._unindex(collection.tenant_id, collection.id, row.id)
        await self._forget_blob(scope, collection.tenant_id, row.content_hash)

    async def _forget_blob(self, scope: TenantScope, tenant: str, digest: str) -> None:
        from sqlalchemy import func, select

        files = self._files(scope)
        still = await files.rows(
            files.scoped(select(func.count()).select_from(RagFile)).where(RagFile.content_hash == digest)
        )
        if not still or not still[0][0]:
            self.c.blobs.delete(tenant, digest)

    async def wait_for_files(
        self, scope: TenantScope, collection_id: str, timeout_s: float = 300.0
    ) -> list[FileInfo]:
        """Poll until no file of the collection is in progress (the CLI and tests)."""
        deadline = time.monotonic() + timeout_s
        while True:
            files = await self.list_files(scope, collection_id)
            if all(f.status != "in_progress" for f in files) or time.monotonic() > deadline:
                return files
            await asyncio.sleep(0.05)

    # ---- search ---------------------------------------------------------------------------------------

    async def search_hits(
        self,
        scope: TenantScope,
        collection_ids: Sequence[str],
        query: str,
        k: int = 10,
        *,
        file_ids: Sequence[str] | None = None,
        timings: Timings | None = None,
    ) -> list[tuple[str, Hit]]:
        collections = [await self.collection_row(scope, cid) for cid in dict.fromkeys(collection_ids)]
        only = frozenset(file_ids) if file_ids is not None else None
        found: list[tuple[str, Hit]] = []
        for collection in collections:
            self._check_embedder(collection)
            hits = await self.c.retriever.search(
                collection.tenant_id, collection.id, query, k, file_ids=only, timings=timings
            )
            found.extend((collection.id, h) for h in hits)
        found.sort(key=lambda pair: -pair[1].score)
        return found[:k]

    async def search(
        self,
        scope: TenantScope,
        collection_ids: Sequence[str],
        query: str,
        k: int = 10,
        *,
        file_ids: Sequence[str] | None = None,
    ) -> SearchResult:
        timings = Timings()
        hits = await self.search_hits(scope, collection_ids, query, k, file_ids=file_ids, timings=timings)
        return SearchResult(query, [to_search_hit(cid, h) for cid, h in hits], timings.stages_ms)

    async def ground(
        self,
        scope: TenantScope,
        collection_ids: Sequence[str],
        query: str,
        *,
        k: int = 6,
        budget_s: float = 2.0,
    ) -> Grounding:
        """Grounded nexus-auto's retrieval node: passages within `budget_s`, or the reason there are none.
        Never raises: the answer then comes without retrieval and says so."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                result = await self.search(scope, collection_ids, query, k)
        except TimeoutError:
            reason = f"retrieval exceeded its {budget_s:.1f}s budget"
            return Grounding(False, [], reason, (time.perf_counter() - start) * 1000)
        except NotFound as exc:
            return Grounding(False, [], str(exc), (time.perf_counter() - start) * 1000)
        except Exception as exc:  # any backend failure degrades to an ungrounded answer
            log.warning("retrieval failed: %s", exc)
            return Grounding(
                False, [], f"retrieval failed: {type(exc).__name__}", (time.perf_counter() - start) * 1000
            )
        empty = "no passage in the collections matches the question"
        elapsed = (time.perf_counter() - start) * 1000
        return Grounding(bool(result.hits), result.hits, None if result.hits else empty, elapsed)

    async def close(self) -> None:
        close = getattr(self.jobs, "close", None)
        if close is not None:
            await close()
        await self.c.lexical.close()
        await self.c.vectors.close()


def to_search_hit(collection_id: str, hit: Hit) -> SearchHit:
    c = hit.chunk
    return SearchHit(
        collection_id=collection_id,
        file_id=c.file_id,
        filename=c.filename,
        chunk_id=c.id,
        title=c.title,
        section=c.section,
        text=c.text,
        score=round(hit.score, 6),
        start=c.start,
        end=c.end,
        page=c.page,
        page_end=c.page_end,
    )


def _collection_info(row: RagCollection, counts: dict[str, int]) -> CollectionInfo:
    return CollectionInfo(row.id, row.name, row.created_at, counts, dict(row.meta or {}))


def _file_info(row: RagFile, *, duplicate: bool = False) -> FileInfo:
    return FileInfo(
        id=row.id,
        collection_id=row.collection_id,
        filename=row.filename,
        bytes=row.bytes,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        chunks=row.chunks,
        created_at=row.created_at,
        kind=row.kind,
        title=row.title,
        pages=row.pages,
        error_code=row.error_code,
        error=row.error,
        duplicate=duplicate,
    )

"""DocumentsService: the use cases of the documents doors (the OpenAI Files and Vector Stores API,
/rag-chat, and any later door such as the FAQ), on top of `nexus.rag.RagService`.

Every call takes the `Caller`; its tenant is the scope (a global admin key acts in its own tenant here:
documents are never read across tenants through these doors). Another tenant's upload, vector store or
file is `NotFound` (404), exactly like one that does not exist. Uploading, attaching and searching are
admitted (rate limits, budgets); a grounded answer is admitted and guarded like any chat turn, and its
generation runs through `ChatService` (guard on the sources too, accounting, output guard).

Ids: an upload is `file-…`; a collection is `vs_…`; the file row of an upload attached to a collection is
`<upload id>@<collection hex>`, so the same upload can sit in several collections while the OpenAI door
addresses it by the upload's id (`upload_id_of`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nexus.config.settings import Settings
from nexus.embeddings.base import Embedder
from nexus.jobs.queue import JobQueue
from nexus.pipeline.events import ChunkData, ErrorData, FinalData
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.rag.answer import SYSTEM_PROMPT, RagEvent, answer, format_sources
from nexus.rag.citations import verify
from nexus.rag.compress import Passage, compress
from nexus.rag.errors import DuplicateContent, FileTooLarge, IndexMismatch, RagError
from nexus.rag.service import RagService
from nexus.rag.types import CollectionInfo, FileInfo, Grounding, SearchResult
from nexus.rag.uploads import Batch, Upload, UploadStore
from nexus.service.admission import Admission
from nexus.service.chat import AUTO_MODEL, ChatService, TurnRequest
from nexus.service.errors import ServiceError, invalid, not_found
from nexus.service.identity import Caller
from nexus.service.rag_jobs import INGEST_KIND, EngineJobs, serve
from nexus.store.errors import NotFound
from nexus.store.scope import TenantScope
from nexus.store.store import Store

log = logging.getLogger("nexus.documents")
PURPOSES = frozenset({"assistants", "user_data"})
MAX_COLLECTIONS = 1000


def file_row_id(collection_id: str, upload_id: str) -> str:
    return f"{upload_id}@{collection_id.removeprefix('vs_')}"


def upload_id_of(file_row_id: str) -> str:
    return file_row_id.split("@", 1)[0]


def rag_error(exc: RagError) -> ServiceError:
    if isinstance(exc, FileTooLarge):
        return ServiceError(413, str(exc), code=exc.code)
    if isinstance(exc, DuplicateContent | IndexMismatch):
        return ServiceError(409, str(exc), code=exc.code)
    return ServiceError(400, str(exc), code=exc.code)


@dataclass(frozen=True, slots=True)
class StoreFile:
    """A file of a collection as the OpenAI door shows it: addressed by its upload's id."""

    upload_id: str
    info: FileInfo


def named_stores(chat: ChatRequest) -> tuple[list[str], ChatRequest]:
    """The vector stores a chat request asks to be grounded in, and the request without those fields:
    `vector_store_ids` (extra_body), `nexus.collections`, or a `file_search` tool naming them."""
    extra = chat.model_extra or {}
    ids: list[str] = []
    if isinstance(extra.get("vector_store_ids"), list):
        ids += [str(x) for x in extra["vector_store_ids"]]
    nexus = extra.get("nexus")
    if isinstance(nexus, dict) and isinstance(nexus.get("collections"), list):
        ids += [str(x) for x in nexus["collections"]]
    tools = chat.tools or []
    searches = [t for t in tools if isinstance(t, dict) and t.get("type") == "file_search"]
    for tool in searches:
        ids += [str(x) for x in tool.get("vector_store_ids") or ()]
    if not ids and not searches:
        return [], chat
    data = chat.model_dump(exclude_none=True)
    data.pop("vector_store_ids", None)
    if isinstance(nexus, dict):
        rest = {k: v for k, v in nexus.items() if k != "collections"}
        if rest:
            data["nexus"] = rest
        else:
            data.pop("nexus", None)
    kept = [t for t in tools if t not in searches]
    if kept:
        data["tools"] = kept
    else:
        data.pop("tools", None)
        data.pop("tool_choice", None)
    return list(dict.fromkeys(ids)), ChatRequest.model_validate(data)


@dataclass(slots=True)
class GroundedChat:
    """A chat request with the retrieved sources in front of it (or the reason there are none)."""

    request: ChatRequest
    stores: list[str]
    grounding: Grounding
    passages: list[Passage] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return bool(self.passages)

    def header(self) -> str:
        return "used" if self.used else f"skipped: {self.grounding.reason or 'no passage'}"[:200]

    def report(self, answer: str) -> dict[str, Any]:
        """What the response carries: whether retrieval was used, and the answer's verified citations."""
        out: dict[str, Any] = {
            "used": self.used,
            "reason": None if self.used else self.grounding.reason,
            "vector_store_ids": self.stores,
            "elapsed_ms": round(self.grounding.elapsed_ms, 1),
            "citations": [],
            "unsupported": [],
            "answerable": None,
        }
        if self.used:
            verified = verify(answer, self.passages)
            cites = [asdict(c) for c in verified.citations]
            for c in cites:
                c["file_id"] = upload_id_of(str(c["file_id"]))
            out.update(
                citations=cites, unsupported=list(verified.unsupported), answerable=verified.answerable
            )
        return out


class DocumentsService:
    def __init__(
        self,
        rag: RagService,
        uploads: UploadStore,
        admission: Admission,
        chat: ChatService,
        *,
        retrieval_budget_s: float = 2.0,
    ) -> None:
        self.rag = rag
        self.uploads = uploads
        self.admission = admission
        self.chat = chat
        self.retrieval_budget_s = retrieval_budget_s

    @staticmethod
    def scope(caller: Caller) -> TenantScope:
        return TenantScope(caller.tenant)

    async def _admit(self, caller: Caller, tokens: int = 0) -> None:
        await self.admission.admit(caller.principal, lambda: tokens)

    # ---- uploads (OpenAI Files) -----------------------------------------------------------------------

    async def upload(self, caller: Caller, data: bytes, filename: str, purpose: str) -> Upload:
        if purpose not in PURPOSES:
            raise invalid(
                f"purpose must be one of {sorted(PURPOSES)}; got {purpose!r}.",
                code="invalid_purpose",
                param="purpose",
            )
        if not data:
            raise invalid("The file is empty.", code="empty_file", param="file")
        limit = self.rag.limits.max_bytes
        if len(data) > limit:
            raise ServiceError(
                413, f"The file is {len(data)} bytes; the limit is {limit}.", code="file_too_large"
            )
        await self._admit(caller)
        name = (filename or "upload").replace("/", "_").replace("\\", "_")[:255]
        return await asyncio.to_thread(self.uploads.put, caller.tenant, data, name, purpose)

    def get_upload(self, caller: Caller, file_id: str) -> Upload:
        upload = self.uploads.get(caller.tenant, file_id)
        if upload is None:
            raise not_found(f"No such file: {file_id!r}.", code="file_not_found")
        return upload

    def list_uploads(self, caller: Caller, purpose: str | None = None) -> list[Upload]:
        return self.uploads.list(caller.tenant, purpose=purpose)

    def upload_content(self, caller: Caller, file_id: str) -> tuple[Upload, bytes]:
        upload = self.get_upload(caller, file_id)
        data = self.uploads.content(caller.tenant, file_id)
        if data is None:
            raise not_found(f"No such file: {file_id!r}.", code="file_not_found")
        return upload, data

    async def delete_upload(self, caller: Caller, file_id: str) -> None:
        """Delete the upload and every trace of it in every collection of the tenant (both indexes)."""
        self.get_upload(caller, file_id)
        scope = self.scope(caller)
        for collection in await self.rag.list_collections(scope, limit=MAX_COLLECTIONS):
            try:
                await self.rag.delete_file(scope, collection.id, file_row_id(collection.id, file_id))
            except NotFound:
                continue
        self.uploads.delete(caller.tenant, file_id)

    # ---- vector stores (collections) ------------------------------------------------------------------

    async def create_store(
        self,
        caller: Caller,
        name: str,
        file_ids: Sequence[str] = (),
        metadata: dict[str, str] | None = None,
    ) -> CollectionInfo:
        for fid in file_ids:  # all or nothing: a wrong id refuses the request before anything exists
            self.get_upload(caller, fid)
        await self._admit(caller)
        collection = await self.rag.create_collection(self.scope(caller), name, meta=metadata or {})
        for fid in file_ids:
            await self._attach(caller, collection.id, fid)
        return await self.get_store(caller, collection.id) if file_ids else collection

    async def list_stores(self, caller: Caller, limit: int | None = None) -> list[CollectionInfo]:
        return await self.rag.list_collections(self.scope(caller), limit=limit)

    async def get_store(self, caller: Caller, store_id: str) -> CollectionInfo:
        return await self.rag.get_collection(self.scope(caller), store_id)

    async def store_bytes(self, caller: Caller, store_id: str) -> int:
        files = await self.rag.list_files(self.scope(caller), store_id, status="completed", limit=1000)
        return sum(f.bytes for f in files)

    async def update_store(
        self,
        caller: Caller,
        store_id: str,
        *,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CollectionInfo:
        return await self.rag.update_collection(self.scope(caller), store_id, name=name, meta=metadata)

    async def delete_store(self, caller: Caller, store_id: str) -> None:
        await self.rag.delete_collection(self.scope(caller), store_id)

    # ---- files of a vector store ----------------------------------------------------------------------

    async def attach(self, caller: Caller, store_id: str, file_id: str) -> StoreFile:
        """Queue the upload's ingestion into the collection (a job); `in_progress` until it ends."""
        await self.rag.collection_row(self.scope(caller), store_id)
        self.get_upload(caller, file_id)
        await self._admit(caller)
        return await self._attach(caller, store_id, file_id)

    async def _attach(self, caller: Caller, store_id: str, file_id: str) -> StoreFile:
        upload, data = self.upload_content(caller, file_id)
        try:
            info = await self.rag.add_file(
                self.scope(caller),
                store_id,
                data,
                upload.filename,
                meta={"upload_id": file_id},
                file_id=file_row_id(store_id, file_id),
            )
        except RagError as exc:
            raise rag_error(exc) from None
        return StoreFile(file_id, info)

    async def store_file(self, caller: Caller, store_id: str, file_id: str) -> StoreFile:
        try:
            info = await self.rag.get_file(self.scope(caller), store_id, file_row_id(store_id, file_id))
        except NotFound:
            await self.rag.collection_row(self.scope(caller), store_id)  # a missing store says so
            raise not_found(
                f"No file {file_id!r} in vector store {store_id!r}.", code="file_not_found"
            ) from None
        return StoreFile(file_id, info)

    async def store_files(
        self, caller: Caller, store_id: str, *, status: str | None = None, limit: int | None = None
    ) -> list[StoreFile]:
        files = await self.rag.list_files(self.scope(caller), store_id, status=status, limit=limit)
        return [StoreFile(upload_id_of(f.id), f) for f in files]

    async def detach(self, caller: Caller, store_id: str, file_id: str) -> None:
        """Remove the file from the collection (both indexes); the upload itself stays."""
        await self.store_file(caller, store_id, file_id)
        await self.rag.delete_file(self.scope(caller), store_id, file_row_id(store_id, file_id))

    # ---- file batches ---------------------------------------------------------------------------------

    async def create_batch(self, caller: Caller, store_id: str, file_ids: Sequence[str]) -> Batch:
        """Attach several uploads at once (all checked first: one unknown id refuses the batch)."""
        await self.rag.collection_row(self.scope(caller), store_id)
        if not file_ids:
            raise invalid("file_ids must name at least one file.", param="file_ids")
        for fid in file_ids:
            self.get_upload(caller, fid)
        await self._admit(caller)
        ids = list(dict.fromkeys(file_ids))
        for fid in ids:
            await self._attach(caller, store_id, fid)
        batch = Batch("vsfb_" + uuid.uuid4().hex, store_id, ids, int(time.time()))
        return self.uploads.put_batch(caller.tenant, batch)

    async def get_batch(self, caller: Caller, store_id: str, batch_id: str) -> tuple[Batch, list[StoreFile]]:
        await self.rag.collection_row(self.scope(caller), store_id)
        batch = self.uploads.get_batch(caller.tenant, batch_id)
        if batch is None or batch.store_id != store_id:
            raise not_found(f"No file batch {batch_id!r} in vector store {store_id!r}.")
        wanted = set(batch.file_ids)
        files = [f for f in await self.store_files(caller, store_id, limit=1000) if f.upload_id in wanted]
        return batch, files

    async def cancel_batch(
        self, caller: Caller, store_id: str, batch_id: str
    ) -> tuple[Batch, list[StoreFile]]:
        """Files of the batch still ingesting are removed from the store; the others stay."""
        batch, files = await self.get_batch(caller, store_id, batch_id)
        for f in files:
            if f.info.status == "in_progress":
                await self.rag.delete_file(self.scope(caller), store_id, f.info.id)
        batch = self.uploads.put_batch(
            caller.tenant, Batch(batch.id, batch.store_id, batch.file_ids, batch.created_at, cancelled=True)
        )
        return await self.get_batch(caller, store_id, batch_id)

    # ---- search and grounded answers ------------------------------------------------------------------

    async def search(self, caller: Caller, store_ids: Sequence[str], query: str, k: int = 10) -> SearchResult:
        if not query.strip():
            raise invalid("query must not be empty.", param="query")
        scope = self.scope(caller)
        for sid in store_ids:
            await self.rag.collection_row(scope, sid)
        await self._admit(caller)
        try:
            return await self.rag.search(scope, store_ids, query, k)
        except RagError as exc:
            raise rag_error(exc) from None

    async def answer(
        self,
        caller: Caller,
        store_ids: Sequence[str],
        question: str,
        *,
        model: str = AUTO_MODEL,
        k: int = 8,
        budget_tokens: int = 1200,
    ) -> AsyncIterator[RagEvent]:
        """Everything that can refuse happens here, before the first event: unknown stores (404),
        admission (429), the input guard on the question (400 or masked, audited). The events then come
        from `nexus.rag.answer`: retrieved, reranked, compressed, token…, final (verified citations)."""
        if not store_ids:
            raise invalid("Name at least one vector store.", param="vector_store_ids")
        scope = self.scope(caller)
        for sid in store_ids:
            await self.rag.collection_row(scope, sid)
        request = ChatRequest(model=model, messages=[ChatMessage(role="user", content=question)])
        masked = await self.chat.admit(caller, request, None)
        asked = masked.last_user_text()

        async def complete(messages: list[dict[str, str]]) -> AsyncIterator[str]:
            chat = ChatRequest(
                model=model,
                messages=[ChatMessage(role=m["role"], content=m["content"]) for m in messages],  # type: ignore[arg-type]
                stream=model != AUTO_MODEL,
            )
            turn = await self.chat.turn(
                caller, TurnRequest(chat=chat, client_history=True, prechecked=True, clarify=False)
            )
            streamed = False
            try:
                async for event in turn:
                    data = event.data
                    if isinstance(data, ChunkData):
                        for choice in data.chunk.choices:
                            if choice.delta.content:
                                streamed = True
                                yield choice.delta.content
                    elif isinstance(data, FinalData) and not streamed:
                        yield data.answer  # nexus-auto: the judged answer, not its drafts
                    elif isinstance(data, ErrorData):
                        raise ServiceError(data.status or 502, data.message, code=data.code)
            finally:
                await turn.aclose()

        events = answer(self.rag, scope, store_ids, asked, complete, k=k, budget_tokens=budget_tokens)
        return _by_upload_ids(events)

    async def ground_chat(self, caller: Caller, chat: ChatRequest) -> GroundedChat | None:
        """Grounded nexus-auto: None when the request names no vector store. Otherwise the request gets
        the passages retrieved within the time budget as numbered sources (a system message) and the
        instruction to cite them; when retrieval fails, is too slow, or finds nothing (another tenant's
        store looks like a missing one), the request goes on without them, told to say so."""
        stores, stripped = named_stores(chat)
        if not stores and stripped is chat:
            return None
        question = stripped.last_user_text()
        if not stores:
            grounding = Grounding(False, [], "the file_search tool names no vector store")
        else:
            grounding = await self.rag.ground(
                self.scope(caller), stores, question, budget_s=self.retrieval_budget_s
            )
        passages = compress(question, grounding.passages, count=self.rag.count_tokens) if grounding.ok else []
        if passages:
            note = f"{SYSTEM_PROMPT}\n\nSources:\n\n{format_sources(passages)}"
        else:
            reason = grounding.reason or "no passage matched"
            note = (
                f"The user's documents could not be used for this answer ({reason}). "
                "Say so in one short sentence, then answer from general knowledge."
            )
        messages = [ChatMessage(role="system", content=note), *stripped.messages]
        request = stripped.model_copy(update={"messages": messages})
        return GroundedChat(request, stores, grounding, passages)

    async def use_job_engine(self, queue: JobQueue, *, in_process: bool) -> None:
        """The process's job engine is up. When it runs jobs in this process (no Redis), ingestion becomes
        durable `rag.ingest` jobs. With Redis a job could run in a worker process, whose writes the
        embedded indexes of this process would not see (the vector store caches per process), so
        ingestion stays on this process's runner, and what a stopped process left in progress is queued
        again."""
        if in_process:
            self.rag.jobs = EngineJobs(queue)
        else:
            resumed = await self.rag.resume_pending()
            if resumed:
                log.info("ingestion resumed for files left in progress", extra={"count": resumed})

    async def close(self) -> None:
        await self.rag.close()


async def _by_upload_ids(events: AsyncIterator[RagEvent]) -> AsyncIterator[RagEvent]:
    """Passages and citations name files by their upload's id, as the Files API does."""
    async for event in events:
        for key in ("hits", "passages", "citations"):
            for item in event.data.get(key) or ():
                if isinstance(item, dict) and "file_id" in item:
                    item["file_id"] = upload_id_of(str(item["file_id"]))
        yield event


async def open_documents(
    settings: Settings,
    store: Store,
    embedder: Embedder | None,
    admission: Admission,
    chat: ChatService,
    *,
    resume: bool = True,
) -> DocumentsService:
    """The documents area of a process (`nexus.runtime.build`): the configured vector store, Tantivy,
    uploads under `<data_dir>/rag/`, ingestion on the in-process runner (`nexus.rag.jobs`) until
    `run_jobs_on(queue)` moves it onto the job engine, and
    the retrieval embedder (the one given, else the shared one; weights load on first use). `resume`:
    queue again the files a stopped process left `in_progress` (on the in-process runner; the job engine
    recovers its own jobs)."""
    from nexus.embeddings.shared import get_embedder
    from nexus.providers.tokens import estimate_tokens
    from nexus.rag.factory import build_rag_service, rag_dir
    from nexus.rag.jobs import LocalJobs

    rag = build_rag_service(
        settings,
        store,
        embedder or get_embedder(settings),
        jobs=LocalJobs(concurrency=1),
        count_tokens=estimate_tokens,
    )
    serve(INGEST_KIND, rag.run_ingest)  # a `nexus worker` runs the ingestion jobs others queue
    resumed = await rag.resume_pending() if resume else 0
    if resumed:
        log.info("ingestion resumed for files left in progress", extra={"count": resumed})
    return DocumentsService(
        rag,
        UploadStore(rag_dir(settings) / "uploads"),
        admission,
        chat,
        retrieval_budget_s=settings.rag_retrieval_budget_s,
    )

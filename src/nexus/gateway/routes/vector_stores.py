"""The OpenAI Vector Stores API: /v1/vector_stores (create, list, retrieve, delete), its files (attach →
ingestion as a background job, `in_progress → completed | failed` with `last_error`; list, retrieve,
remove) and search. A vector store is a nexus.rag collection of the caller's tenant; another tenant's is
a 404 like a missing one. Shapes follow OpenAI's published API, so the official SDK works unchanged
(including `upload_and_poll`: responses carry `openai-poll-after-ms`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from nexus.gateway.deps import caller_of
from nexus.gateway.errors import APIError
from nexus.gateway.routes.files import cursor, documents_of
from nexus.jsontypes import JsonBool, JsonInt
from nexus.rag.types import CollectionInfo, SearchHit
from nexus.rag.uploads import Batch
from nexus.service.documents import StoreFile, upload_id_of

router = APIRouter(tags=["documents"])
DOOR = "vector_stores"
POLL_AFTER_MS = "100"
STATUSES = ("in_progress", "completed", "failed", "cancelled")
# Our failure codes in OpenAI's three (the message keeps ours).
LAST_ERROR_CODES = {"unsupported_type": "unsupported_file", "internal_error": "server_error"}


# A search query with something to search for (blank ones are a 400).
Query = Annotated[str, Field(pattern=r"\S")]


class CreateVectorStore(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    file_ids: list[str] = Field(default_factory=list, max_length=500)
    metadata: dict[str, str] | None = None
    description: str | None = None
    # Accepted for compatibility; chunking is structure-aware and configured server-side.
    chunking_strategy: dict[str, Any] | None = None
    expires_after: dict[str, Any] | None = None


class UpdateVectorStore(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    metadata: dict[str, str] | None = None
    expires_after: dict[str, Any] | None = None


class CreateBatch(BaseModel):
    file_ids: list[str] = Field(min_length=1, max_length=500)
    attributes: dict[str, Any] | None = None
    chunking_strategy: dict[str, Any] | None = None


class AttachFile(BaseModel):
    file_id: str = Field(min_length=1)
    attributes: dict[str, Any] | None = None
    chunking_strategy: dict[str, Any] | None = None


class SearchBody(BaseModel):
    query: Query | Annotated[list[Query], Field(min_length=1)]
    max_num_results: JsonInt = Field(default=10, ge=1, le=50)
    # Attribute filters are not supported: the handler answers 400 unsupported_parameter; the schema says
    # the field must be absent or null.
    filters: dict[str, Any] | None = Field(default=None, json_schema_extra={"type": "null"})
    ranking_options: dict[str, Any] | None = None
    rewrite_query: JsonBool = False


def _ts(value: Any) -> int:
    return int(value.timestamp())


def store_object(c: CollectionInfo, usage_bytes: int = 0) -> dict[str, Any]:
    counts = {s: int(c.files.get(s, 0)) for s in STATUSES}
    return {
        "id": c.id,
        "object": "vector_store",
        "created_at": _ts(c.created_at),
        "name": c.name,
        "description": c.meta.get("description"),
        "usage_bytes": usage_bytes,
        "file_counts": {**counts, "total": sum(counts.values())},
        "status": "in_progress" if counts["in_progress"] else "completed",
        "expires_after": None,
        "expires_at": None,
        "last_active_at": _ts(c.created_at),
        "metadata": {k: v for k, v in c.meta.items() if k != "description"},
    }


def store_file_object(f: StoreFile) -> dict[str, Any]:
    info = f.info
    last_error = None
    if info.status == "failed":
        code = info.error_code or "invalid_file"
        last_error = {
            "code": LAST_ERROR_CODES.get(code, "invalid_file"),
            "message": f"{info.error or 'ingestion failed'} [{code}]",
        }
    return {
        "id": f.upload_id,
        "object": "vector_store.file",
        "usage_bytes": info.bytes if info.status == "completed" else 0,
        "created_at": _ts(info.created_at),
        "vector_store_id": info.collection_id,
        "status": info.status,
        "last_error": last_error,
        "chunking_strategy": {"type": "other"},
        "attributes": {},
    }


def batch_object(batch: Batch, files: list[StoreFile]) -> dict[str, Any]:
    counts = {s: 0 for s in STATUSES}
    for f in files:
        counts[f.info.status] = counts.get(f.info.status, 0) + 1
    if batch.cancelled:
        counts["cancelled"] = len(batch.file_ids) - len(files)
    status = "cancelled" if batch.cancelled else "in_progress" if counts["in_progress"] else "completed"
    return {
        "id": batch.id,
        "object": "vector_store.files_batch",
        "created_at": batch.created_at,
        "vector_store_id": batch.store_id,
        "status": status,
        "file_counts": {**counts, "total": len(batch.file_ids)},
    }


def hit_object(h: SearchHit) -> dict[str, Any]:
    return {
        "file_id": upload_id_of(h.file_id),
        "filename": h.filename,
        "score": h.score,
        "attributes": {
            "chunk_id": h.chunk_id,
            "title": h.title,
            "section": h.section,
            "page": h.page,
            "start": h.start,
            "end": h.end,
        },
        "content": [{"type": "text", "text": h.text}],
    }


@router.post("/v1/vector_stores", summary="Create a vector store (optionally with files)")
async def create_store(body: CreateVectorStore, request: Request) -> dict[str, Any]:
    docs = documents_of(request)
    caller = caller_of(request, DOOR)
    meta: dict[str, Any] = dict(body.metadata or {})
    if body.description:
        meta["description"] = body.description
    c = await docs.create_store(caller, body.name or "", body.file_ids, meta)
    return store_object(c)


@router.get("/v1/vector_stores", summary="The tenant's vector stores, newest first")
async def list_stores(
    request: Request, limit: int = 20, after: str | None = None, order: Literal["asc", "desc"] = "desc"
) -> dict[str, Any]:
    docs = documents_of(request)
    caller = caller_of(request, DOOR)
    stores = [store_object(c) for c in await docs.list_stores(caller, limit=1000)]
    if order == "asc":
        stores.reverse()
    return cursor(stores, limit, after)


@router.get("/v1/vector_stores/{vector_store_id}", summary="One vector store with its file counts")
async def get_store(request: Request, vector_store_id: str) -> dict[str, Any]:
    docs = documents_of(request)
    caller = caller_of(request, DOOR)
    c = await docs.get_store(caller, vector_store_id)
    return store_object(c, await docs.store_bytes(caller, vector_store_id))


@router.post("/v1/vector_stores/{vector_store_id}", summary="Rename a vector store or set its metadata")
async def update_store(body: UpdateVectorStore, request: Request, vector_store_id: str) -> dict[str, Any]:
    docs = documents_of(request)
    caller = caller_of(request, DOOR)
    meta: dict[str, Any] | None = None
    if body.metadata is not None:
        current = await docs.get_store(caller, vector_store_id)
        meta = {
            **body.metadata,
            **({"description": current.meta["description"]} if "description" in current.meta else {}),
        }
    c = await docs.update_store(caller, vector_store_id, name=body.name, metadata=meta)
    return store_object(c, await docs.store_bytes(caller, vector_store_id))


@router.delete("/v1/vector_stores/{vector_store_id}", summary="Delete a vector store and its indexes")
async def delete_store(request: Request, vector_store_id: str) -> dict[str, Any]:
    await documents_of(request).delete_store(caller_of(request, DOOR), vector_store_id)
    return {"id": vector_store_id, "object": "vector_store.deleted", "deleted": True}


@router.post(
    "/v1/vector_stores/{vector_store_id}/files",
    summary="Attach an uploaded file: its ingestion runs as a background job",
)
async def attach_file(
    body: AttachFile, request: Request, response: Response, vector_store_id: str
) -> dict[str, Any]:
    f = await documents_of(request).attach(caller_of(request, DOOR), vector_store_id, body.file_id)
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return store_file_object(f)


@router.get("/v1/vector_stores/{vector_store_id}/files", summary="The files of a vector store")
async def list_store_files(
    request: Request,
    vector_store_id: str,
    limit: int = 20,
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None,
) -> dict[str, Any]:
    files = await documents_of(request).store_files(
        caller_of(request, DOOR), vector_store_id, status=filter, limit=1000
    )
    out = [store_file_object(f) for f in files]
    if order == "desc":
        out.reverse()
    return cursor(out, limit, after)


@router.get("/v1/vector_stores/{vector_store_id}/files/{file_id}", summary="One file's ingestion status")
async def get_store_file(
    request: Request, response: Response, vector_store_id: str, file_id: str
) -> dict[str, Any]:
    f = await documents_of(request).store_file(caller_of(request, DOOR), vector_store_id, file_id)
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return store_file_object(f)


@router.delete(
    "/v1/vector_stores/{vector_store_id}/files/{file_id}",
    summary="Remove a file from a vector store (both indexes); the upload stays",
)
async def detach_file(request: Request, vector_store_id: str, file_id: str) -> dict[str, Any]:
    await documents_of(request).detach(caller_of(request, DOOR), vector_store_id, file_id)
    return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}


@router.post(
    "/v1/vector_stores/{vector_store_id}/file_batches",
    summary="Attach several uploaded files at once (each ingested as a background job)",
)
async def create_batch(
    body: CreateBatch, request: Request, response: Response, vector_store_id: str
) -> dict[str, Any]:
    docs = documents_of(request)
    caller = caller_of(request, DOOR)
    batch = await docs.create_batch(caller, vector_store_id, body.file_ids)
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return batch_object(*await docs.get_batch(caller, vector_store_id, batch.id))


@router.get("/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}", summary="A file batch's progress")
async def get_batch(
    request: Request, response: Response, vector_store_id: str, batch_id: str
) -> dict[str, Any]:
    got = await documents_of(request).get_batch(caller_of(request, DOOR), vector_store_id, batch_id)
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return batch_object(*got)


@router.post(
    "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
    summary="Cancel a file batch: its files still ingesting are removed",
)
async def cancel_batch(request: Request, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    got = await documents_of(request).cancel_batch(caller_of(request, DOOR), vector_store_id, batch_id)
    return batch_object(*got)


@router.get(
    "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files", summary="The files of a batch"
)
async def list_batch_files(
    request: Request,
    vector_store_id: str,
    batch_id: str,
    limit: int = 20,
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None,
) -> dict[str, Any]:
    _, files = await documents_of(request).get_batch(caller_of(request, DOOR), vector_store_id, batch_id)
    out = [store_file_object(f) for f in files if filter is None or f.info.status == filter]
    if order == "desc":
        out.reverse()
    return cursor(out, limit, after)


@router.post("/v1/vector_stores/{vector_store_id}/search", summary="Hybrid search of a vector store")
async def search_store(body: SearchBody, request: Request, vector_store_id: str) -> dict[str, Any]:
    if body.filters:
        raise APIError(
            400,
            "Attribute filters are not supported by this server; search without `filters`.",
            code="unsupported_parameter",
            param="filters",
        )
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    result = await documents_of(request).search(
        caller_of(request, DOOR), [vector_store_id], " ".join(queries), body.max_num_results
    )
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": [hit_object(h) for h in result.hits],
        "has_more": False,
        "next_page": None,
    }

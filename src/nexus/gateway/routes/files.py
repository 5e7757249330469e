"""The OpenAI Files API for documents: POST/GET /v1/files, GET/DELETE /v1/files/{file_id},
GET /v1/files/{file_id}/content. Tenant-scoped; the use cases are `DocumentsService`'s.

An upload is kept as sent (any type: it is checked when attached to a vector store, where a bad document
ends `failed` with the reason); an empty file is a 400, one over NEXUS_RAG_MAX_FILE_BYTES a 413 (and a
body over NEXUS_MAX_BODY_BYTES is refused before it is read). Deleting a file also removes it from every
vector store of the tenant, so it is gone from search at once (OpenAI leaves that to a second call).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from nexus.gateway.deps import caller_of, services_of
from nexus.rag.uploads import Upload
from nexus.service.documents import DocumentsService

router = APIRouter(tags=["documents"])
DOOR = "files"


def documents_of(request: Request) -> DocumentsService:
    return services_of(request).documents


def file_object(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "object": "file",
        "bytes": upload.bytes,
        "created_at": upload.created_at,
        "filename": upload.filename,
        "purpose": upload.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def page(data: list[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def cursor(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    """OpenAI's cursor pagination over an already ordered list: `after` an id, at most `limit`."""
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = max(1, min(limit, 10_000))
    return page(items[:limit], has_more=len(items) > limit)


@router.post("/v1/files", summary="Upload a file (purpose 'assistants') for vector stores")
async def create_file(
    request: Request,
    file: Annotated[UploadFile, File(description="the document: PDF, DOCX, HTML, Markdown or text")],
    # The handler answers any other value with 400 invalid_purpose (OpenAI's code); the schema says so.
    purpose: Annotated[str, Form(json_schema_extra={"enum": ["assistants", "user_data"]})] = "assistants",
) -> dict[str, Any]:
    # A form field sent empty reads as absent to FastAPI (so as the default); an empty purpose is not
    # one of the two, so it is refused like any other (the form is parsed once and cached).
    if (await request.form()).get("purpose") == "":
        purpose = ""
    data = await file.read()
    upload = await documents_of(request).upload(
        caller_of(request, DOOR), data, file.filename or "upload", purpose
    )
    return file_object(upload)


@router.get("/v1/files", summary="The tenant's uploaded files, newest first")
async def list_files(
    request: Request, purpose: str | None = None, limit: int = 10_000, after: str | None = None
) -> dict[str, Any]:
    uploads = documents_of(request).list_uploads(caller_of(request, DOOR), purpose)
    return cursor([file_object(u) for u in uploads], limit, after)


@router.get("/v1/files/{file_id}", summary="One uploaded file")
async def get_file(request: Request, file_id: str) -> dict[str, Any]:
    return file_object(documents_of(request).get_upload(caller_of(request, DOOR), file_id))


@router.get("/v1/files/{file_id}/content", summary="The bytes of an uploaded file")
async def get_file_content(request: Request, file_id: str) -> Response:
    _, data = documents_of(request).upload_content(caller_of(request, DOOR), file_id)
    return Response(data, media_type="application/octet-stream")


@router.delete("/v1/files/{file_id}", summary="Delete a file, and its traces in every vector store")
async def delete_file(request: Request, file_id: str) -> dict[str, Any]:
    await documents_of(request).delete_upload(caller_of(request, DOOR), file_id)
    return {"id": file_id, "object": "file", "deleted": True}

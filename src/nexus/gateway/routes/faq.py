"""The FAQ product line's doors, tenant-scoped (another tenant's agent, lead, FAQ or document is a 404):

POST/GET /api/smart-agents, GET/DELETE /api/smart-agents/{id}, POST /api/smart-agents/{id}/chat
GET /api/leads[?agent_id=&format=csv]
POST /api/faqs/extract (multipart upload → a job), GET /api/faqs/documents/{id}, GET /api/faqs
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from nexus.faq.agents import AgentSpec, SmartAgentService
from nexus.faq.documents import MAX_UPLOAD_BYTES
from nexus.faq.leads import FIELDS
from nexus.gateway.deps import ServicesDep, caller_of
from nexus.runtime import Services
from nexus.service.errors import ServiceError
from nexus.store.models_faq import FaqDocument, FaqPair, SmartAgent

router = APIRouter(prefix="/api", tags=["faq"])

ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class FaqIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    answer: str = Field(min_length=1, max_length=20_000)


class AgentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    system_prompt: str = Field(default="", max_length=20_000)
    model: str | None = Field(default=None, max_length=256)
    faqs: list[FaqIn] = Field(default_factory=list, max_length=2000)


class FaqEdit(BaseModel):
    question: str | None = Field(default=None, min_length=1, max_length=4000)
    answer: str | None = Field(default=None, min_length=1, max_length=20_000)


class AgentChat(BaseModel):
    session_id: str = Field(pattern=ID)
    message: str = Field(min_length=1, max_length=20_000)


def _agents(services: Services) -> SmartAgentService:
    return SmartAgentService(services.store, services.chat, services.fine_tunes.catalogue)


def pair_view(p: FaqPair) -> dict[str, Any]:
    return {
        "id": p.id,
        "question": p.question,
        "answer": p.answer,
        "source": p.source,
        "document_id": p.document_id,
        "agent_id": p.agent_id,
    }


def agent_view(a: SmartAgent, pairs: list[FaqPair] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": a.id, "name": a.name, "model": a.model, "system_prompt": a.system_prompt}
    if pairs is not None:
        out["faqs"] = [pair_view(p) for p in pairs]
    return out


@router.post("/smart-agents", status_code=201, summary="Create a smart agent from FAQ pairs")
async def create_agent(body: AgentCreate, request: Request, services: ServicesDep) -> JSONResponse:
    spec = AgentSpec(
        name=body.name,
        system_prompt=body.system_prompt,
        model=body.model,
        faqs=tuple((f.question, f.answer) for f in body.faqs),
    )
    agent, pairs = await _agents(services).create(caller_of(request, "smart_agent").tenant, spec)
    return JSONResponse(agent_view(agent, pairs), status_code=201)


@router.get("/smart-agents", summary="The tenant's smart agents")
async def list_agents(request: Request, services: ServicesDep) -> dict[str, Any]:
    rows = await _agents(services).agents(caller_of(request, "smart_agent").tenant).list()
    return {"object": "list", "data": [agent_view(a) for a in rows]}


@router.get("/smart-agents/{agent_id}", summary="One smart agent with its FAQs")
async def get_agent(agent_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    svc, tenant = _agents(services), caller_of(request, "smart_agent").tenant
    agent = await svc.agents(tenant).get(agent_id)
    return agent_view(agent, list(await svc.pairs(tenant).of_agent(agent_id)))


@router.delete("/smart-agents/{agent_id}", status_code=204, summary="Delete an agent, its FAQs and leads")
async def delete_agent(agent_id: str, request: Request, services: ServicesDep) -> Response:
    await _agents(services).agents(caller_of(request, "smart_agent").tenant).remove(agent_id)
    return Response(status_code=204)


@router.post("/smart-agents/{agent_id}/chat", summary="One customer message: the answer, citations, lead")
async def agent_chat(
    agent_id: str, body: AgentChat, request: Request, services: ServicesDep
) -> dict[str, Any]:
    reply = await _agents(services).chat_turn(
        caller_of(request, "smart_agent"), agent_id, body.session_id, body.message
    )
    return {
        "answer": reply.answer,
        "citations": reply.citations,
        "lead": reply.lead,
        "session_id": reply.session_id,
        "model": reply.model,
        "work_order_id": reply.work_order_id,
    }


@router.get(
    "/leads", summary="Leads gathered by the tenant's smart agents (JSON, or CSV)", response_model=None
)
async def list_leads(
    request: Request,
    services: ServicesDep,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> dict[str, Any] | Response:
    rows = await _agents(services).leads(caller_of(request, "smart_agent").tenant).list(agent_id)
    data = [
        {
            "id": r.id,
            "agent_id": r.agent_id,
            "session_id": r.session_id,
            **{f: getattr(r, f) for f in FIELDS},
            "messages": r.messages,
            "updated_at": r.updated_at.isoformat(),
        }
        for r in rows
    ]
    if format == "csv":
        buf = io.StringIO()
        cols = ["id", "agent_id", "session_id", *FIELDS, "messages", "updated_at"]
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(data)
        return Response(buf.getvalue(), media_type="text/csv")
    return {"object": "list", "data": data}


def document_view(d: FaqDocument, pairs: list[FaqPair] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "filename": d.filename,
        "content_type": d.content_type,
        "status": d.status,
        "job_id": d.job_id,
        "progress": {"done": d.done_chunks, "total": d.total_chunks},
        "error": d.error,
    }
    if pairs is not None:
        out["pairs"] = [pair_view(p) for p in pairs]
    return out


@router.post(
    "/faqs/extract", status_code=202, summary="Upload a text, Markdown or PDF document: FAQs by a job"
)
async def extract_faqs(
    request: Request,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="text, Markdown or PDF")],
    model: Annotated[str | None, Form(max_length=256)] = None,
) -> JSONResponse:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ServiceError(413, f"The file is larger than {MAX_UPLOAD_BYTES} bytes.", code="file_too_large")
    doc = await services.faqs.upload(
        caller_of(request, "faq_extract"), file.filename or "upload", data, model
    )
    return JSONResponse(
        document_view(doc), status_code=202, headers={"Location": f"/api/faqs/documents/{doc.id}"}
    )


@router.get("/faqs/documents/{document_id}", summary="An uploaded document: extraction progress, its pairs")
async def get_document(document_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    tenant = caller_of(request, "faq_extract").tenant
    doc = await services.faqs.documents(tenant).get(document_id)
    return document_view(doc, list(await services.faqs.pairs(tenant).of_document(document_id)))


@router.get("/faqs", summary="The tenant's FAQ pairs (of one document, or all)")
async def list_faqs(
    request: Request,
    services: ServicesDep,
    document_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    rows = await services.faqs.list_pairs(caller_of(request, "faq_extract").tenant, document_id)
    return {"object": "list", "data": [pair_view(p) for p in rows]}


@router.patch("/faqs/{faq_id}", summary="Edit a FAQ pair's question or answer")
async def edit_faq(faq_id: str, body: FaqEdit, request: Request, services: ServicesDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    pair = await services.faqs.pairs(caller_of(request, "faq_extract").tenant).edit(faq_id, **changes)
    return pair_view(pair)


@router.delete("/faqs/{faq_id}", status_code=204, summary="Delete a FAQ pair")
async def delete_faq(faq_id: str, request: Request, services: ServicesDep) -> Response:
    await services.faqs.pairs(caller_of(request, "faq_extract").tenant).remove(faq_id)
    return Response(status_code=204)

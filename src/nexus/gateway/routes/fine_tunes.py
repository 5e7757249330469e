"""Fine-tuning jobs: POST/GET /api/fine-tunes, GET /api/fine-tunes/{id}, POST /api/fine-tunes/{id}/cancel.

Thin: the service (nexus.finetune) admits the request (limits, budget, guard over the training text),
stores the job and queues its work; everything is scoped to the caller's tenant (another's is a 404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from nexus.finetune import FineTuneSpec
from nexus.gateway.deps import ServicesDep, caller_of
from nexus.store.models_faq import FineTune

router = APIRouter(prefix="/api", tags=["fine-tuning"])


class Pair(BaseModel):
    question: str = Field(min_length=1, max_length=10_000)
    answer: str = Field(min_length=1, max_length=10_000)


class FineTuneCreate(BaseModel):
    base_model: str = Field(min_length=1, max_length=128, description="a catalogue entry tagged fine-tuning")
    pairs: list[Pair] = Field(default_factory=list, max_length=5000)
    faq_ids: list[str] = Field(default_factory=list, max_length=5000, description="stored FAQ pairs")
    suffix: str = Field(default="", max_length=40, pattern=r"^[a-zA-Z0-9-]*$")
    system: str = Field(default="", max_length=4000)


def view(row: FineTune) -> dict[str, Any]:
    return {
        "id": row.id,
        "base_model": row.base_model,
        "suffix": row.suffix,
        "status": row.status,
        "examples": row.examples,
        "provider_job_id": row.provider_job_id,
        "training_file_id": row.training_file_id,
        "fine_tuned_model": row.fine_tuned_model,
        "model": row.registered_model,
        "polls": row.polls,
        "job_id": row.job_id,
        "error": row.error,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


@router.post("/fine-tunes", status_code=202, summary="Start a fine-tuning job on FAQ pairs")
async def create_fine_tune(body: FineTuneCreate, request: Request, services: ServicesDep) -> JSONResponse:
    spec = FineTuneSpec(
        base_model=body.base_model,
        pairs=tuple((p.question, p.answer) for p in body.pairs),
        faq_ids=tuple(body.faq_ids),
        suffix=body.suffix,
        system=body.system,
    )
    row = await services.fine_tunes.create(caller_of(request, "fine_tune"), spec)
    return JSONResponse(view(row), status_code=202, headers={"Location": f"/api/fine-tunes/{row.id}"})


@router.get("/fine-tunes", summary="The caller's tenant's fine-tuning jobs")
async def list_fine_tunes(request: Request, services: ServicesDep) -> dict[str, Any]:
    rows = await services.fine_tunes.list(caller_of(request, "fine_tune").tenant)
    return {"object": "list", "data": [view(r) for r in rows]}


@router.get("/fine-tunes/{fine_tune_id}", summary="One fine-tuning job")
async def get_fine_tune(fine_tune_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return view(await services.fine_tunes.get(caller_of(request, "fine_tune").tenant, fine_tune_id))


@router.post("/fine-tunes/{fine_tune_id}/cancel", summary="Cancel a fine-tuning job (here and upstream)")
async def cancel_fine_tune(fine_tune_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return view(await services.fine_tunes.cancel(caller_of(request, "fine_tune").tenant, fine_tune_id))

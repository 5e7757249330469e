"""POST /api/compare: one prompt, two models, side by side, each side bounded by `timeout_s`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from nexus.faq.compare import CompareService
from nexus.gateway.deps import ServicesDep, caller_of
from nexus.jsontypes import JsonFloat

router = APIRouter(prefix="/api", tags=["compare"])


class CompareRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=100_000)
    models: list[str] = Field(min_length=2, max_length=2)
    timeout_s: JsonFloat = Field(default=30.0, gt=0, le=300)


@router.post("/compare", summary="Run one prompt on two models at once; a slow side is cut at the timeout")
async def compare(body: CompareRequest, request: Request, services: ServicesDep) -> dict[str, Any]:
    svc = CompareService(services.chat, services.fine_tunes.catalogue)
    sides = await svc.compare(caller_of(request, "compare"), body.prompt, body.models, body.timeout_s)
    return {"prompt": body.prompt, "timeout_s": body.timeout_s, "results": [asdict(s) for s in sides]}

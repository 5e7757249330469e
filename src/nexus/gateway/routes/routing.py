"""Routing API: explain a routing decision, list models and their prototypes (changing prototypes is an
admin action: /admin/models/{id}/prototypes).

No generation happens here. Handlers are plain `def`: deciding and embedding are CPU work, so FastAPI
runs them in its thread pool instead of blocking the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.gateway.deps import services_of
from nexus.gateway.errors import APIError
from nexus.jsontypes import JsonFloat
from nexus.routing.base import Decision, RouteContext
from nexus.routing.policy import NoModelAvailableError
from nexus.routing.router import Router

router = APIRouter(tags=["routing"])


def get_router(request: Request) -> Router:
    return services_of(request).router


class RouteRequest(BaseModel):
    """Exactly one of `message` (text) or `messages` (an OpenAI message list)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["message"]}, {"required": ["messages"]}]}
    )

    message: str | None = Field(default=None, json_schema_extra={"anyOf": [{"type": "string"}]})
    messages: list[dict[str, Any]] | None = Field(
        default=None, json_schema_extra={"anyOf": [{"type": "array", "items": {"type": "object"}}]}
    )
    session_model: str | None = None
    allowed_models: list[str] | None = Field(default=None, min_length=1)
    cost_lambda: JsonFloat | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_input(self) -> RouteRequest:
        given = [f for f in ("message", "messages") if f in self.model_fields_set]
        if len(given) != 1 or getattr(self, given[0]) is None:
            raise ValueError("give exactly one of 'message' or 'messages'")
        return self


def _known(r: Router, model_id: str) -> None:
    if r.catalogue.get(model_id) is None:
        raise APIError(404, f"The model {model_id!r} does not exist.", code="model_not_found", param="id")


def _store(r: Router) -> Any:
    if r.prototypes is None:
        raise APIError(
            503, "Prototypes are unavailable: the embedder failed to start.", code="embedder_unavailable"
        )
    return r.prototypes


@router.post("/route", response_model=Decision, summary="Route a request without generating")
def route(body: RouteRequest, r: Router = Depends(get_router)) -> Decision:
    unknown = [m for m in body.allowed_models or [] if r.catalogue.get(m) is None]
    if unknown:
        raise APIError(
            404,
            f"Unknown model ids in allowed_models: {unknown}.",
            code="model_not_found",
            param="allowed_models",
        )
    ctx = RouteContext(
        session_model=body.session_model, allowed_models=body.allowed_models, cost_lambda=body.cost_lambda
    )
    try:
        return r.decide(body.message if body.message is not None else body.messages or [], ctx)
    except NoModelAvailableError as exc:
        raise APIError(503, str(exc), code="no_model_available") from None


@router.get("/models", summary="Models with price, tags, availability and prototype count")
def models(r: Router = Depends(get_router)) -> dict[str, Any]:
    return {"object": "list", "data": r.models_info()}


@router.get("/models/{model_id}/prototypes", summary="A model's prototype queries")
def list_prototypes(model_id: str, r: Router = Depends(get_router)) -> dict[str, Any]:
    _known(r, model_id)
    texts = [t for _, t in _store(r).entries(model_id)]
    return {"model": model_id, "prototypes": texts}

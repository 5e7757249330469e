"""Routing API: explain a routing decision, list models, manage KNN prototypes at run time.

No generation happens here. Handlers are plain `def`: deciding and embedding are CPU work, so FastAPI
runs them in its thread pool instead of blocking the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator

from nexus.gateway.errors import APIError
from nexus.routing.base import Decision, RouteContext
from nexus.routing.policy import NoModelAvailableError
from nexus.routing.prototypes import PrototypeError
from nexus.routing.router import Router

router = APIRouter(tags=["routing"])


def get_router(request: Request) -> Router:
    found = getattr(request.app.state, "router", None)
    if found is None:
        raise APIError(503, "The router is not initialised on this server.", code="router_unavailable")
    return found  # type: ignore[no-any-return]


class RouteRequest(BaseModel):
    message: str | None = None
    messages: list[dict[str, Any]] | None = None
    session_model: str | None = None
    allowed_models: list[str] | None = None
    cost_lambda: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_input(self) -> RouteRequest:
        if (self.message is None) == (self.messages is None):
            raise ValueError("give exactly one of 'message' or 'messages'")
        return self


class PrototypeBody(BaseModel):
    text: str | None = Field(default=None, min_length=1)
    index: int | None = Field(default=None, ge=0)


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


@router.post("/models/{model_id}/prototypes", status_code=201, summary="Add a prototype query")
def add_prototype(model_id: str, body: PrototypeBody, r: Router = Depends(get_router)) -> dict[str, Any]:
    _known(r, model_id)
    if not body.text:
        raise APIError(400, "Give the prototype 'text'.", code="invalid_request", param="text")
    store = _store(r)
    try:
        store.add(model_id, body.text)
    except PrototypeError as exc:
        raise APIError(400, str(exc), code="invalid_prototype") from None
    return {"model": model_id, "added": body.text, "count": store.count(model_id)}


@router.delete("/models/{model_id}/prototypes", summary="Remove a prototype by text or index")
def remove_prototype(model_id: str, body: PrototypeBody, r: Router = Depends(get_router)) -> dict[str, Any]:
    _known(r, model_id)
    if (body.text is None) == (body.index is None):
        raise APIError(400, "Give exactly one of 'text' or 'index'.", code="invalid_request")
    store = _store(r)
    try:
        removed = store.remove(model_id, text=body.text, index=body.index)
    except PrototypeError as exc:
        raise APIError(404, str(exc), code="prototype_not_found") from None
    return {"model": model_id, "removed": removed, "count": store.count(model_id)}

"""Every JSON body the gateway reads takes numbers and booleans as JSON numbers and booleans: `false`
for a temperature, `1` for `stream`, `"0.5"` for a score are 422s, as the OpenAPI document says
(pydantic's lax mode would turn them into 0.0, True and 0.5; schemathesis found `score: false` accepted),
while `3.0` for an integer is taken, as JSON Schema's `integer` admits it.

The walk covers the bodies of FastAPI-validated routes and of the routes that parse their own body
(`body_schema`), and every model nested in them, so a new door or field cannot skip the rule."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import params
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

from nexus.gateway.app import create_app
from nexus.gateway.body import BODY_MODELS

WRONG = {int: [True, 1.5, "1"], float: [False, "0.5"], bool: [1, 0, "true"]}


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _scalar(annotation: object) -> type | None:
    """int, float or bool when the field holds one (optionally None), else None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = {_scalar(a) for a in args if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if typing.get_origin(annotation) is typing.Annotated:
        return _scalar(args[0])
    return annotation if annotation in (int, float, bool) else None


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x includes routers lazily
        if inner is not None:
            yield from _api_routes(inner.routes)


def body_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = list(BODY_MODELS)
    for route in _api_routes(create_app().routes):
        # A multipart form's fields are text on the wire; only JSON bodies carry JSON types.
        if route.body_field is not None and not isinstance(route.body_field.field_info, params.Form):
            found.extend(_models_in(route.body_field.field_info.annotation))
    seen: dict[str, type[BaseModel]] = {}
    while found:
        model = found.pop()
        if model.__qualname__ in seen:
            continue
        seen[model.__qualname__] = model
        for field in model.model_fields.values():
            found.extend(_models_in(field.annotation))
    return sorted(seen.values(), key=lambda m: m.__qualname__)


def scalar_fields() -> list[tuple[str, FieldInfo, type]]:
    out = []
    for model in body_models():
        for name, field in model.model_fields.items():
            kind = _scalar(field.annotation)
            if kind is not None:
                out.append((f"{model.__qualname__}.{name}", field, kind))
    return out


FIELDS = scalar_fields()


def test_the_walk_finds_the_bodies_it_must() -> None:
    names = {name for name, _, _ in FIELDS}
    for expected in ("ChatRequest.temperature", "ChatRequest.stream", "FeedbackIn.score", "KeyCreate.rpm"):
        assert expected in names


@pytest.mark.parametrize(("name", "field", "kind"), FIELDS, ids=[n for n, _, _ in FIELDS])
def test_a_wrong_json_type_is_refused(name: str, field: FieldInfo, kind: type) -> None:
    probe = create_model("Probe", value=(field.annotation, field))
    for wrong in WRONG[kind]:
        with pytest.raises(ValidationError):
            probe.model_validate({"value": wrong})
    if kind is int:  # JSON Schema's integer admits an integral number written as 3.0
        low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), 1)
        assert probe.model_validate({"value": float(max(low, 1))}).value == max(low, 1)


def test_bounds_reach_the_openapi_document_as_json_schema() -> None:
    """A validator wrapped the wrong way round makes pydantic write `ge`/`le` (not JSON Schema, so
    clients and fuzzers ignore the bound) instead of `minimum`/`maximum`."""
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            found.extend(f"{where}: {key}" for key in ("ge", "le", "gt", "lt") if key in node)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(create_app().openapi(), "#")
    assert not found, found

"""Reading a JSON body into a typed model, with the OpenAI error shape for every failure."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from nexus.gateway.errors import APIError

M = TypeVar("M", bound=BaseModel)


async def parse_body(request: Request, model: type[M]) -> M:
    ctype = request.headers.get("content-type", "application/json")
    if "json" not in ctype and ctype not in ("", "*/*"):
        raise APIError(
            415,
            f"Expected a JSON body (Content-Type: application/json), got {ctype!r}.",
            code="unsupported_media_type",
        )
    raw = await request.body()
    if not raw:
        raise APIError(400, "The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, f"The request body is not valid JSON ({exc.msg}).", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    except RecursionError:
        raise APIError(400, "The request body is nested too deeply.", code="invalid_json") from None


# Schemas referenced by hand-parsed routes; app.py merges them into the OpenAPI components.
EXTRA_SCHEMAS: dict[str, dict[str, Any]] = {}
# The models of those routes (tests walk every body model the gateway reads).
BODY_MODELS: list[type[BaseModel]] = []


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI `requestBody` for a route that parses its body itself (fast path, one JSON parse)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    EXTRA_SCHEMAS.update(schema.pop("$defs", {}))
    EXTRA_SCHEMAS[model.__name__] = schema
    BODY_MODELS.append(model)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }

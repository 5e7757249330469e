"""Errors are types (mapped to a ServiceError in nexus.service.errors); this is the one place that
renders them for HTTP, in the OpenAI error shape.

Clients never see a stack trace: an unexpected exception becomes a generic 500 with the request id,
and the details go to the log.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from nexus.providers.errors import ProviderError
from nexus.service.errors import KNOWN_ERRORS, STATUS_TYPES, ServiceError, as_service_error

log = logging.getLogger("nexus.gateway")

# The service's error type is the gateway's: one class, rendered here in the OpenAI error shape.
APIError = ServiceError


def error_body(
    status: int, message: str, *, code: str | None = None, type: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type or STATUS_TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(status, message, code=code, type=type, param=param)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errs = exc.errors()
    if not errs:
        return "Invalid request body.", None
    parts = []
    for e in errs[:5]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    first = [str(x) for x in errs[0].get("loc", ()) if x != "body"]
    return "Invalid request: " + "; ".join(parts), (".".join(first) or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _api_error(_: Request, exc: ServiceError) -> Response:
        return error_response(
            exc.status, exc.message, code=exc.code, type=exc.type, param=exc.param, headers=exc.headers
        )

    async def _known(request: Request, exc: Exception) -> Response:
        mapped = as_service_error(exc)
        assert mapped is not None  # registered only for the types as_service_error maps
        if isinstance(exc, ProviderError):
            log.warning("upstream failure", extra={"error": exc.kind, "status": exc.status})
        return await _api_error(request, mapped)

    for known in KNOWN_ERRORS:
        app.add_exception_handler(known, _known)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        msg, param = _validation_message(exc)
        return error_response(400, msg, code="invalid_request", param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, detail, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(
            500,
            "Internal error; the request id in X-Request-ID identifies it in the logs.",
            code="internal_error",
            type="api_error",
        )


# -- the error model in the OpenAPI document --------------------------------------------------------
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
# What any operation may answer, whatever it does: a malformed request or an invalid parameter (400,
# never FastAPI's 422), authentication and permission (401, 403), an unknown resource, model or session
# (404), a body too large (413), rate limits and budgets (429), an internal error (500) and the edge's
# concurrency limit or a component that is not running (503).
COMMON_ERRORS: dict[int, str] = {
    400: "Invalid request: a malformed body, parameter or id",
    401: "Missing or invalid credentials",
    403: "The caller's role or tenant may not do this",
    404: "An unknown resource, model or session",
    413: "The request body is too large",
    429: "A rate limit or a hard budget is used up (Retry-After)",
    500: "Internal error (the X-Request-ID identifies it in the logs)",
    503: "The server is at capacity (Retry-After) or a component this needs is not running",
}
_CONFLICT = {409: "The session has no paused run to resume, or it was resumed elsewhere"}
_UPSTREAM = {
    502: "The upstream model failed",
    504: "The upstream model did not answer in time (the request's deadline)",
}
_NOT_JSON = {415: "The body is not JSON (Content-Type)"}
# Statuses only some operations answer, by (method, path template).
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/v1/chat/completions"): {**_CONFLICT, **_UPSTREAM, **_NOT_JSON},
    ("post", "/chat"): _UPSTREAM,
    ("post", "/resume"): {**_CONFLICT, **_UPSTREAM},
    ("post", "/api/chat"): {**_CONFLICT, **_UPSTREAM},
    ("post", "/v1/embeddings"): _NOT_JSON,
    ("post", "/v1/audio/transcriptions"): _UPSTREAM,
    ("post", "/v1/audio/speech"): {**_UPSTREAM, **_NOT_JSON},
    ("post", "/admin/keys"): _NOT_JSON,
    ("post", "/api/agents"): {409: "An agent of that name exists"},
    ("post", "/api/agents/runs/{run_id}/resume"): {409: "The run is not waiting for an approval"},
    ("post", "/api/agents/runs/{run_id}/cancel"): {409: "The run has ended, or runs in another process"},
    ("post", "/api/smart-agents"): {409: "A smart agent of that name exists"},
}
# Successful answers FastAPI cannot see (a route returning a Response picks its status itself).
EXTRA_OK: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/work-orders"): {"200": "The same Idempotency-Key was submitted before: that work order"}
}
# Operations whose 200 is not JSON.
MEDIA_ROUTES: dict[tuple[str, str], str] = {("get", "/admin/audit/export"): "text/csv"}
# Operations whose 200 is JSON, or another media type when a parameter asks for it (`format=csv`).
ALT_MEDIA: dict[tuple[str, str], str] = {("get", "/api/leads"): "text/csv"}
# Operations whose 200 may be a stream of Server-Sent Events (all of it, or when the body asks for it).
SSE_ROUTES: dict[tuple[str, str], bool] = {
    ("post", "/v1/chat/completions"): False,  # JSON, or SSE with "stream": true
    ("post", "/chat"): True,
    ("post", "/resume"): True,
    ("post", "/api/agents/{name}/runs"): False,  # the run as JSON, or its events with "stream": true
    ("post", "/api/agents/runs/{run_id}/resume"): False,
    ("post", "/rag-chat"): True,
}


# One Server-Sent Event as OpenAPI tools read it (`data` is the event's JSON text).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first matching route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET", "type": "http"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _no_null_form_fields(schema: dict[str, Any], body: dict[str, Any]) -> None:
    """A form field cannot carry null (a client leaves it out): drop `null` from optional fields."""
    ref = body.get("$ref", "")
    target = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1]) if ref else body
    for prop in (target or {}).get("properties", {}).values():
        if prop.get("format") == "binary" or "contentMediaType" in prop:
            prop.setdefault("minLength", 1)  # an empty file is refused (400 empty_file)
        options = prop.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del prop["anyOf"]
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document describe what the gateway really answers: every error status of each
    operation in the error shape (validation errors are 400, so FastAPI's 422 goes), and Server-Sent
    Events where a route streams."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            responses.pop("422", None)
            statuses = {**COMMON_ERRORS, **ROUTE_ERRORS.get((method, path), {})}
            for status, description in sorted(statuses.items()):
                responses.setdefault(
                    str(status),
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ref}},
                    },
                )
            for status_text, description in EXTRA_OK.get((method, path), {}).items():
                responses.setdefault(
                    status_text,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                )
            media = MEDIA_ROUTES.get((method, path))
            if media is not None:
                responses["200"] = {
                    "description": "Successful Response",
                    "content": {media: {"schema": {"type": "string"}}},
                }
            alt = ALT_MEDIA.get((method, path))
            if alt is not None:
                ok = responses.setdefault("200", {"description": "Successful Response"})
                ok.setdefault("content", {})[alt] = {"schema": {"type": "string"}}
            only_sse = SSE_ROUTES.get((method, path))
            if only_sse is not None:
                ok = responses.setdefault("200", {"description": "Successful Response"})
                content = {} if only_sse else dict(ok.get("content") or {})
                content["text/event-stream"] = {"schema": SSE_EVENT}
                ok["content"] = content
            body = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if body is not None:
                _no_null_form_fields(schema, body.get("schema", {}))
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema

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
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(
            500,
            "Internal error; the request id in X-Request-ID identifies it in the logs.",
            code="internal_error",
            type="api_error",
        )

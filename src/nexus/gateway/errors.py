"""Errors are types; this is the one place that maps them to HTTP, in the OpenAI error shape.

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

from nexus.config.catalogue import CatalogueError
from nexus.guard import GuardBlocked
from nexus.providers.errors import AllProvidersFailed, ModelUnavailable, ProviderError
from nexus.providers.hub import UnknownModel
from nexus.store.errors import NotFound
from nexus.telemetry.redact import Redactor

log = logging.getLogger("nexus.gateway")

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    501: "not_implemented_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "upstream_timeout_error",
}


class APIError(Exception):
    """An error with its HTTP status, ready for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type or _STATUS_TYPES.get(status, "api_error")
        self.param = param
        self.headers = headers or {}


def error_body(
    status: int, message: str, *, code: str | None = None, type: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type or _STATUS_TYPES.get(status, "api_error"),
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


def unknown_model_error(exc: UnknownModel) -> APIError:
    few = ", ".join(exc.known[:6])
    return APIError(
        404,
        f"The model {exc.model!r} does not exist. Use 'nexus-auto' for routing or one of: {few}"
        + (" …" if len(exc.known) > 6 else "")
        + " (GET /v1/models lists them all).",
        code="model_not_found",
        param="model",
    )


# Upstream error bodies are echoed to clients; some upstreams quote the credential they were sent.
_redactor = Redactor()


def provider_error(exc: ProviderError) -> APIError:
    """Map an upstream failure that survived retries and fallbacks (credentials masked)."""
    message = _redactor.redact(exc.message)
    if isinstance(exc, ModelUnavailable):
        return APIError(503, message, code="model_unavailable")
    if isinstance(exc, AllProvidersFailed) and exc.timed_out:
        return APIError(504, f"Upstream timed out: {message}", code="upstream_timeout")
    if exc.kind == "upstream_timeout":
        return APIError(504, f"Upstream timed out: {message}", code="upstream_timeout")
    return APIError(502, f"Upstream error: {message}", code="upstream_error")


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
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> Response:
        return error_response(
            exc.status, exc.message, code=exc.code, type=exc.type, param=exc.param, headers=exc.headers
        )

    @app.exception_handler(UnknownModel)
    async def _unknown_model(request: Request, exc: UnknownModel) -> Response:
        return await _api_error(request, unknown_model_error(exc))

    @app.exception_handler(ProviderError)
    async def _provider(request: Request, exc: ProviderError) -> Response:
        log.warning("upstream failure", extra={"error": exc.kind, "status": exc.status})
        return await _api_error(request, provider_error(exc))

    @app.exception_handler(CatalogueError)
    async def _catalogue(request: Request, exc: CatalogueError) -> Response:
        return await _api_error(request, APIError(400, str(exc), code="invalid_catalogue"))

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> Response:
        return error_response(404, str(exc), code="not_found")

    @app.exception_handler(GuardBlocked)
    async def _guard(_: Request, exc: GuardBlocked) -> Response:
        what = "request" if exc.direction == "input" else "answer"
        return error_response(
            400,
            f"The {what} was blocked by the guard: {', '.join(exc.categories)}.",
            code="guard_blocked",
            type="invalid_request_error",
        )

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

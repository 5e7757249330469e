"""Errors are types. A use case raises one of these; each door renders it in its own error shape
(the HTTP doors in the OpenAI error shape, in gateway/errors.py; the WebSocket door as an error
message; Telegram as a reply)."""

from __future__ import annotations

from nexus.config.catalogue import CatalogueError
from nexus.guard import GuardBlocked
from nexus.providers.errors import AllProvidersFailed, ModelUnavailable, ProviderError
from nexus.providers.hub import UnknownModel
from nexus.store.errors import NotFound
from nexus.telemetry.redact import Redactor

STATUS_TYPES = {
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
    431: "invalid_request_error",
    501: "not_implemented_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "upstream_timeout_error",
}


class ServiceError(Exception):
    """An error with the status a client should see, a stable code and a message safe to show."""

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
        self.type = type or STATUS_TYPES.get(status, "api_error")
        self.param = param
        self.headers = headers or {}


def unauthorized(message: str) -> ServiceError:
    return ServiceError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str = "This action needs an admin key.") -> ServiceError:
    return ServiceError(403, message, code="forbidden")


def not_found(message: str, code: str = "not_found") -> ServiceError:
    return ServiceError(404, message, code=code)


def invalid(message: str, *, code: str = "invalid_request", param: str | None = None) -> ServiceError:
    return ServiceError(400, message, code=code, param=param)


def unknown_model_error(exc: UnknownModel) -> ServiceError:
    few = ", ".join(exc.known[:6])
    return ServiceError(
        404,
        f"The model {exc.model!r} does not exist. Use 'nexus-auto' for routing or one of: {few}"
        + (" …" if len(exc.known) > 6 else "")
        + " (GET /v1/models lists them all).",
        code="model_not_found",
        param="model",
    )


# Upstream error bodies are echoed to clients; some upstreams quote the credential they were sent.
_redactor = Redactor()


def provider_error(exc: ProviderError) -> ServiceError:
    """Map an upstream failure that survived retries and fallbacks (credentials masked)."""
    message = _redactor.redact(exc.message)
    if isinstance(exc, ModelUnavailable):
        return ServiceError(503, message, code="model_unavailable")
    if isinstance(exc, AllProvidersFailed) and exc.timed_out:
        return ServiceError(504, f"Upstream timed out: {message}", code="upstream_timeout")
    if exc.kind == "upstream_timeout":
        return ServiceError(504, f"Upstream timed out: {message}", code="upstream_timeout")
    return ServiceError(502, f"Upstream error: {message}", code="upstream_error")


def guard_blocked_error(exc: GuardBlocked) -> ServiceError:
    what = "request" if exc.direction == "input" else "answer"
    return ServiceError(
        400, f"The {what} was blocked by the guard: {', '.join(exc.categories)}.", code="guard_blocked"
    )


# Exceptions of lower layers every door renders the same way.
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    UnknownModel,
    ProviderError,
    CatalogueError,
    NotFound,
    GuardBlocked,
)


def as_service_error(exc: BaseException) -> ServiceError | None:
    """The client-facing form of an exception; None for an unexpected one (a 500, details in the log)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, UnknownModel):
        return unknown_model_error(exc)
    if isinstance(exc, ProviderError):
        return provider_error(exc)
    if isinstance(exc, CatalogueError):
        return ServiceError(400, str(exc), code="invalid_catalogue")
    if isinstance(exc, NotFound):
        return ServiceError(404, str(exc), code="not_found")
    if isinstance(exc, GuardBlocked):
        return guard_blocked_error(exc)
    return None

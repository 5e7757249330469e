"""Execution errors as types; each carries the HTTP status a door should answer with."""

from __future__ import annotations


class ExecutionError(Exception):
    """Base of every execution-engine failure."""

    code = "execution_error"
    status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidExternalRequest(ExecutionError):
    """The request itself is unusable (bad URL, scheme, method)."""

    code = "invalid_request"
    status = 422


class EgressRefused(ExecutionError):
    """The destination is not allowed: a private/loopback/link-local/metadata address (SSRF guard) or a
    host outside the tenant's allow-list. Never retried."""

    code = "egress_refused"
    status = 403

    def __init__(self, message: str, *, host: str, address: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.host = host
        self.address = address
        self.reason = reason


class ExternalCallFailed(ExecutionError):
    """No HTTP answer after every attempt (timeout, connection error)."""

    code = "external_call_failed"
    status = 504

    def __init__(self, message: str, *, attempts: int, timed_out: bool = False) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.timed_out = timed_out


class IdempotencyMismatch(ExecutionError):
    """The idempotency key was used before for a different request."""

    code = "idempotency_key_reused"
    status = 422


class IdempotencyInProgress(ExecutionError):
    """The first call with this idempotency key is still running and did not finish in time."""

    code = "idempotency_in_progress"
    status = 409


class ScheduleError(ExecutionError):
    """A schedule that cannot run: bad cron expression, a time in the past, an unknown job kind."""

    code = "invalid_schedule"
    status = 422

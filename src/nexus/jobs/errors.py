"""Job errors as types. The gateway maps the public ones to HTTP (see docs/jobs.md)."""

from __future__ import annotations


class JobError(Exception):
    """Base of every nexus.jobs failure."""


class UnknownJobKind(JobError):
    """No handler is registered under that kind (400 at the API: nothing could ever run it)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown job kind {kind!r}")
        self.kind = kind


class InvalidPayload(JobError):
    """The payload does not match the kind's payload model (400 at the API)."""


class JobConflict(JobError):
    """The job is not in a state that allows the operation, e.g. cancelling a finished job (409)."""

    def __init__(self, job_id: str, status: str, action: str) -> None:
        super().__init__(f"job {job_id!r} is {status}; cannot {action}")
        self.job_id = job_id
        self.status = status


# --- raised by handlers to steer retries ---------------------------------------------------------------
class RetryLater(JobError):
    """Try again after `delay_s` (counts as an attempt): e.g. an upstream said 503 or Retry-After."""

    def __init__(self, reason: str, delay_s: float | None = None) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class PermanentFailure(JobError):
    """Retrying cannot help (bad input, 4xx): the job goes straight to the dead-letter store."""


# --- internal ---------------------------------------------------------------------------------------------
class LeaseLost(JobError):
    """This attempt no longer owns the job (cancelled, or taken over after its lease expired)."""

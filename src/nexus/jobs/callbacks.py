"""Signed callbacks: POST the JSON payload with an HMAC-SHA256 signature, retried as a job.

Headers of every delivery:
    X-Nexus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
    X-Nexus-Event:     e.g. work_order.done
    X-Nexus-Delivery:  the callback job id (the same on every retry: deduplicate on it)

A receiver recomputes the HMAC over the raw body bytes, compares in constant time and rejects a
timestamp older than its tolerance (replays); `verify_signature` does exactly that. Delivery is retried
with exponential backoff and jitter on 5xx, 408/425/429 (honouring Retry-After), timeouts and connection
errors; any other status is final (dead-lettered with the status as the reason).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel, field_validator

from nexus import __version__
from nexus.jobs.context import JobContext
from nexus.jobs.errors import InvalidPayload, JobError, PermanentFailure, RetryLater
from nexus.jobs.registry import job

SIGNATURE_HEADER = "X-Nexus-Signature"
EVENT_HEADER = "X-Nexus-Event"
DELIVERY_HEADER = "X-Nexus-Delivery"
DEFAULT_TOLERANCE_S = 300
RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_RETRY_AFTER_S = 3600.0


class CallbackError(JobError):
    """A delivery failed."""


class CallbackRetryable(CallbackError):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class CallbackRejected(CallbackError):
    """The receiver answered with a final status (4xx other than 408/425/429, or 3xx)."""


def validate_callback_url(url: str) -> str:
    """http(s) with a host, no credentials in it (they would sit in the database and the logs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidPayload("callback_url must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidPayload("callback_url must not carry credentials")
    if len(url) > 2000:
        raise InvalidPayload("callback_url is longer than 2000 characters")
    return url


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` (X-Nexus-Signature) signs `body` with `secret` and is recent enough."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _retry_after(value: str | None) -> float | None:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


async def deliver_callback(
    url: str,
    payload: dict[str, Any],
    secret: str,
    *,
    event: str = "callback",
    delivery_id: str = "",
    timeout_s: float = 10.0,
    client: httpx.AsyncClient | None = None,
) -> int:
    """One signed POST; the status on 2xx, else CallbackRetryable or CallbackRejected."""
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"nexus-callbacks/{__version__}",
        SIGNATURE_HEADER: sign(body, secret, int(time.time())),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
    }
    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    try:
        response = await http.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise CallbackRetryable(f"callback timed out after {timeout_s}s") from None
    except httpx.TransportError as exc:
        raise CallbackRetryable(f"callback connection failed: {type(exc).__name__}") from None
    finally:
        if own:
            await http.aclose()
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status >= 500 or status in RETRYABLE_STATUS:
        raise CallbackRetryable(
            f"callback answered {status}", _retry_after(response.headers.get("retry-after"))
        )
    raise CallbackRejected(f"callback answered {status}")


class CallbackJob(BaseModel):
    url: str
    event: str = "callback"
    payload: dict[str, Any] = {}

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return validate_callback_url(value)
        except InvalidPayload as exc:
            raise ValueError(str(exc)) from None


@job(
    "callback",
    payload=CallbackJob,
    max_attempts=lambda settings: settings.callback_max_attempts,
    retry_base_s=1.0,
    retry_max_s=300.0,
)
async def send_callback(ctx: JobContext[Any], p: CallbackJob) -> dict[str, Any]:
    secret = ctx.settings.callback_secret
    if not secret:
        raise PermanentFailure("NEXUS_CALLBACK_SECRET is not set: callbacks cannot be signed")
    try:
        status = await deliver_callback(
            p.url,
            p.payload,
            secret,
            event=p.event,
            delivery_id=ctx.job_id,
            timeout_s=ctx.settings.callback_timeout_s,
        )
    except CallbackRetryable as exc:
        raise RetryLater(str(exc), exc.retry_after_s) from None
    except CallbackRejected as exc:
        raise PermanentFailure(str(exc)) from None
    return {"status": status}

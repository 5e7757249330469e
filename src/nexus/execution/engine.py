"""The execution engine: one guarded HTTP client for every external call Nexus makes on a tenant's
behalf (agent tools, OpenAPI tools, scheduled calls).

Per call: the tenant's host allow-list, the SSRF guard (in the connection layer, see egress.py), a
per-attempt timeout, retries with backoff and jitter on retryable failures only (5xx, 429, connect
errors, timeouts; never another 4xx), idempotency keys recorded in the database, redirects followed by
hand so each hop is checked, a response-size cap, and one audit record with the outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from nexus.execution.audit import AuditFn, ExecutionAudit, Outcome, emit, redact_url
from nexus.execution.egress import EgressPolicy, GuardedBackend, GuardedTransport, Resolver
from nexus.execution.errors import EgressRefused, ExecutionError, ExternalCallFailed, InvalidExternalRequest
from nexus.execution.idempotency import IdempotencyStore
from nexus.execution.scheduling import Scheduler, Trigger
from nexus.execution.types import IDEMPOTENT_METHODS, ExecContext, ExternalRequest, ExternalResponse

SCHEDULED_KIND = "execution.request"
_REDIRECTS = (301, 302, 303, 307, 308)
# Not worth repeating: the server says it will never do it.
_FINAL_5XX = (501, 505)
# Credentials are not carried to another origin by a redirect.
_ORIGIN_BOUND_HEADERS = ("authorization", "cookie", "proxy-authorization")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    timeout_s: float = 10.0
    max_retries: int = 2
    backoff_base_s: float = 0.2
    backoff_max_s: float = 5.0
    max_redirects: int = 5
    max_response_bytes: int = 1_000_000
    idempotency_window_s: float = 24 * 3600.0


def backoff(attempt: int, base_s: float, max_s: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half to full of the cap); a server's Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), max_s)
    cap = min(max_s, base_s * (2**attempt))
    return random.uniform(cap / 2, cap)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value or "")
    except ValueError:
        return None


def retryable_status(status: int) -> bool:
    return status == 429 or (status >= 500 and status not in _FINAL_5XX)


class _Attempt(Exception):
    """A failed attempt that may be retried (carries what to say if it is the last)."""

    def __init__(self, error: ExternalCallFailed, *, sent: bool) -> None:
        self.error = error
        self.sent = sent  # False: the request never left (connect failed), safe to repeat for any method


class ExecutionEngine:
    def __init__(
        self,
        policy: EgressPolicy | None = None,
        *,
        idempotency: IdempotencyStore | None = None,
        audit: AuditFn | None = None,
        resolver: Resolver | None = None,
        settings: EngineSettings | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.policy = policy or EgressPolicy()
        self.idempotency = idempotency
        self.audit = audit
        self.settings = settings or EngineSettings()
        self.scheduler = scheduler
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(GuardedBackend(self.policy, resolver)),
            follow_redirects=False,
            trust_env=False,
        )
        if scheduler is not None:
            scheduler.register(SCHEDULED_KIND, self._run_scheduled)

    # -- one call ---------------------------------------------------------------------------------
    async def request(self, ctx: ExecContext, req: ExternalRequest) -> ExternalResponse:
        started = time.perf_counter()
        attempts = 0
        outcome: Outcome = "failed"
        status: int | None = None
        error: str | None = None
        try:
            self.policy.check_host(ctx.tenant, req.host)
            key = req.idempotency_key if self.idempotency is not None else None
            if key is not None:
                assert self.idempotency is not None
                recorded = await self.idempotency.begin(
                    ctx.tenant,
                    key,
                    req.fingerprint(),
                    window_s=self.settings.idempotency_window_s,
                    wait_s=self._longest_call_s(req),
                )
                if recorded is not None:
                    outcome, status, attempts = "replayed", recorded.status, 0
                    return recorded
            try:
                resp = await self._with_retries(ctx, req)
            except BaseException:
                if key is not None:
                    assert self.idempotency is not None
                    await asyncio.shield(self.idempotency.abandon(ctx.tenant, key))
                raise
            attempts, status = resp.attempts, resp.status
            if key is not None:
                assert self.idempotency is not None
                await self.idempotency.finish(ctx.tenant, key, resp)
            outcome = "ok" if resp.status < 400 else "http_error"
            return resp
        except EgressRefused as exc:
            outcome, error = "refused", exc.message
            raise
        except ExternalCallFailed as exc:
            attempts, error = exc.attempts, exc.message
            raise
        except ExecutionError as exc:
            outcome, error = "invalid", exc.message
            raise
        finally:
            await emit(
                self.audit,
                ExecutionAudit(
                    tenant=ctx.tenant,
                    actor=ctx.actor,
                    request_id=ctx.request_id,
                    run_id=ctx.run_id,
                    method=req.method,
                    url=redact_url(req.url),
                    host=req.host,
                    outcome=outcome,
                    status=status,
                    attempts=attempts,
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                    idempotency_key=req.idempotency_key,
                    error=error,
                ),
            )

    def _longest_call_s(self, req: ExternalRequest) -> float:
        s = self.settings
        retries = s.max_retries if req.max_retries is None else req.max_retries
        per_try = (req.timeout_s or s.timeout_s) * (s.max_redirects + 1)
        return per_try * (retries + 1) + s.backoff_max_s * retries + 1.0

    async def _with_retries(self, ctx: ExecContext, req: ExternalRequest) -> ExternalResponse:
        s = self.settings
        retries = s.max_retries if req.max_retries is None else req.max_retries
        # Repeating a POST/PATCH that reached the server could do its effect twice; a key makes it safe.
        repeatable = req.method in IDEMPOTENT_METHODS or req.idempotency_key is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self._send(ctx, req, attempt)
            except _Attempt as failed:
                if attempt > retries or (failed.sent and not repeatable):
                    failed.error.attempts = attempt
                    raise failed.error from None
                await asyncio.sleep(backoff(attempt - 1, s.backoff_base_s, s.backoff_max_s))
                continue
            if retryable_status(resp.status) and attempt <= retries and repeatable:
                hint = _retry_after(resp.headers.get("retry-after"))
                delay = backoff(attempt - 1, s.backoff_base_s, s.backoff_max_s, hint)
                await asyncio.sleep(delay)
                continue
            return resp

    async def _send(self, ctx: ExecContext, req: ExternalRequest, attempt: int) -> ExternalResponse:
        timeout = req.timeout_s or self.settings.timeout_s
        method, url = req.method, req.url
        headers = dict(req.headers)
        kwargs: dict[str, Any] = {"params": req.params or None}
        if req.json_body is not None:
            kwargs["json"] = req.json_body
        elif req.content is not None:
            kwargs["content"] = req.content
        started = time.perf_counter()
        for hop in range(self.settings.max_redirects + 1):
            if hop:
                self.policy.check_host(ctx.tenant, urlsplit(url).hostname or "")
            try:
                request = self._client.build_request(method, url, headers=headers, timeout=timeout, **kwargs)
                response = await self._client.send(request, stream=True)
                body, truncated = await self._read(response)
            except httpx.InvalidURL as exc:
                raise InvalidExternalRequest(f"invalid URL: {exc}") from None
            except httpx.TransportError as exc:
                raise _failed(exc, url, timeout, attempt) from None
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location and req.follow_redirects:
                nxt = urljoin(str(response.url), location)
                if urlsplit(nxt).scheme not in ("http", "https"):
                    raise EgressRefused(
                        f"redirect to a non-HTTP URL {nxt!r}", host=urlsplit(nxt).hostname or ""
                    )
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method = "GET"
                    kwargs = {}
                else:
                    kwargs.pop("params", None)
                if _origin(nxt) != _origin(url):
                    headers = {k: v for k, v in headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
                url = nxt
                continue
            return ExternalResponse(
                status=response.status_code,
                headers=dict(response.headers),
                text=body.decode(response.encoding or "utf-8", errors="replace"),
                url=str(response.url),
                attempts=attempt,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                truncated=truncated,
            )
        raise ExternalCallFailed(f"more than {self.settings.max_redirects} redirects", attempts=attempt)

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        limit = self.settings.max_response_bytes
        parts: list[bytes] = []
        size = 0
        truncated = False
        try:
            async for chunk in response.aiter_bytes():
                if size + len(chunk) > limit:
                    parts.append(chunk[: limit - size])
                    truncated = True
                    break
                parts.append(chunk)
                size += len(chunk)
        finally:
            await response.aclose()
        return b"".join(parts), truncated

    # -- scheduling -------------------------------------------------------------------------------
    async def schedule(self, ctx: ExecContext, req: ExternalRequest, trigger: Trigger) -> str:
        """Run `req` at a time or on a cron expression; returns the schedule id."""
        if self.scheduler is None:
            raise InvalidExternalRequest("no scheduler is configured")
        self.policy.check_host(ctx.tenant, req.host)  # refuse now rather than at 3 a.m.
        payload = {
            "ctx": {
                "tenant": ctx.tenant,
                "actor": ctx.actor,
                "request_id": ctx.request_id,
                "run_id": ctx.run_id,
            },
            "request": req.model_dump(mode="json", by_alias=True),
        }
        return await self.scheduler.schedule(SCHEDULED_KIND, payload, trigger, tenant=ctx.tenant)

    async def _run_scheduled(self, payload: dict[str, Any], due: datetime) -> None:
        ctx = ExecContext(**payload["ctx"])
        req = ExternalRequest.model_validate(payload["request"])
        if req.idempotency_key:
            # One key per occurrence: two workers firing the same occurrence make one call.
            req = req.model_copy(update={"idempotency_key": f"{req.idempotency_key}@{due.isoformat()}"[:200]})
        await self.request(ctx, req)

    async def aclose(self) -> None:
        await self._client.aclose()


def _failed(exc: httpx.TransportError, url: str, timeout: float, attempt: int) -> _Attempt:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        # The request never left: safe to repeat whatever the method.
        host = urlsplit(url).hostname
        return _Attempt(ExternalCallFailed(f"cannot connect to {host}: {exc}", attempts=attempt), sent=False)
    if isinstance(exc, httpx.TimeoutException):
        message = f"no answer within {timeout:g}s"
        return _Attempt(ExternalCallFailed(message, attempts=attempt, timed_out=True), sent=True)
    message = f"transport error: {type(exc).__name__}: {exc}"
    return _Attempt(ExternalCallFailed(message, attempts=attempt), sent=True)


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port

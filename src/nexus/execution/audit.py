"""Every external call leaves one audit record with its outcome; the lead passes where it goes."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from nexus.store.repos.audit import Audit
from nexus.store.scope import TenantScope
from nexus.store.store import Store

log = logging.getLogger("nexus.execution")

Outcome = Literal["ok", "http_error", "refused", "failed", "replayed", "invalid"]


@dataclass(frozen=True, slots=True)
class ExecutionAudit:
    tenant: str
    actor: str
    request_id: str
    run_id: str
    method: str
    # scheme://host/path only: query strings often carry tokens.
    url: str
    host: str
    outcome: Outcome
    status: int | None
    attempts: int
    elapsed_ms: float
    idempotency_key: str | None = None
    error: str | None = None


AuditFn = Callable[[ExecutionAudit], Awaitable[None] | None]


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def emit(audit: AuditFn | None, record: ExecutionAudit) -> None:
    if audit is None:
        return
    try:
        result = audit(record)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a broken audit sink must not fail the call it describes
        log.exception("execution audit sink failed")


def store_audit(store: Store) -> AuditFn:
    """An audit sink writing `external_call` rows to the store's audit log (tenant-owned rows)."""

    async def write(record: ExecutionAudit) -> None:
        details = {k: v for k, v in asdict(record).items() if k not in ("tenant", "actor", "outcome")}
        await Audit(store.sessions, TenantScope(record.tenant)).add(
            actor=record.actor,
            action="external_call",
            target=record.url[:256],
            status=record.outcome,
            details=details,
        )

    return write

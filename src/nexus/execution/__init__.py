"""Safe external calls: timeouts, retries with backoff, idempotency keys, schedules, allow-lists, the
SSRF guard, and an audit record per call. See engine.py."""

from nexus.execution.audit import AuditFn, ExecutionAudit, store_audit
from nexus.execution.egress import EgressPolicy, Resolver, forbidden_reason, system_resolver
from nexus.execution.engine import EngineSettings, ExecutionEngine
from nexus.execution.errors import (
    EgressRefused,
    ExecutionError,
    ExternalCallFailed,
    IdempotencyInProgress,
    IdempotencyMismatch,
    InvalidExternalRequest,
    ScheduleError,
)
from nexus.execution.idempotency import IdempotencyStore, SqlIdempotency
from nexus.execution.scheduling import At, Cron, InProcessScheduler, ScheduledJob, Scheduler, Trigger
from nexus.execution.types import ExecContext, ExternalRequest, ExternalResponse

__all__ = [
    "At",
    "AuditFn",
    "Cron",
    "EgressPolicy",
    "EgressRefused",
    "EngineSettings",
    "ExecContext",
    "ExecutionAudit",
    "ExecutionEngine",
    "ExecutionError",
    "ExternalCallFailed",
    "ExternalRequest",
    "ExternalResponse",
    "IdempotencyInProgress",
    "IdempotencyMismatch",
    "IdempotencyStore",
    "InProcessScheduler",
    "InvalidExternalRequest",
    "Resolver",
    "ScheduleError",
    "ScheduledJob",
    "Scheduler",
    "SqlIdempotency",
    "Trigger",
    "forbidden_reason",
    "store_audit",
    "system_resolver",
]

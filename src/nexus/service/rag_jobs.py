"""Documents on `nexus.jobs` (the service layer joins rag and jobs, which never import each other): each ingestion is a durable job (a row with attempts, leases, retries,
visible in /api/jobs), run by the gateway's engine (in-process without Redis) or by `nexus worker`
processes, which build the same services and so serve the same handler.

The handler is the process's `RagService.run_ingest`, registered when the documents area is built; a
job that reaches a process before that is retried shortly. The file row stays the durable state of an
ingestion (`in_progress → completed | failed` + reason); running a job twice is harmless.
"""

from __future__ import annotations

from typing import Any

from nexus.jobs.context import JobContext
from nexus.jobs.errors import RetryLater
from nexus.jobs.queue import JobQueue
from nexus.jobs.registry import job
from nexus.rag.jobs import Handler

INGEST_KIND = "rag.ingest"  # nexus.rag.service.INGEST_JOB
_handlers: dict[str, Handler] = {}


def serve(kind: str, handler: Handler) -> None:
    """This process runs `kind` jobs with `handler` (the documents area calls it once it is built)."""
    _handlers[kind] = handler


class EngineJobs:
    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    def register(self, kind: str, handler: Handler) -> None:
        serve(kind, handler)

    async def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> str:
        # No idempotency key: the same file sent again after a failure must run again; two live jobs
        # of one file only ingest it twice (idempotent).
        return await self.queue.enqueue(kind, payload, tenant=str(payload["tenant"]))


@job(INGEST_KIND, max_attempts=5, timeout_s=3600, retry_base_s=1.0, retry_max_s=10.0)
async def ingest_job(ctx: JobContext[Any], payload: dict[str, Any]) -> dict[str, Any]:
    handler = _handlers.get(INGEST_KIND)
    if handler is None:
        raise RetryLater("this process has not built its documents service yet", delay_s=1.0)
    await handler(payload)
    return {"file_id": payload.get("file_id")}

"""The fine-tuning job kinds on nexus.jobs: durable, retried, cancellable.

    finetune.start   upload the JSONL (Files API), create the provider's job, then queue the first poll
    finetune.poll    read the provider's job; not finished → queue the next poll (backoff); succeeded →
                     register the model for the tenant; failed → record the provider's reason

Every state change is written in the job's effect transaction (exactly once, with the job's `done`). A
transient provider error (5xx, 429, timeout) is `RetryLater`; running out of attempts, or a
cancellation, ends the fine-tune through `on_final` in the transaction that ends the job. The poll is a
job row, not a timer: a restart mid-poll picks it up where it was.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import update

from nexus.finetune.client import ProviderRejected, ProviderUnavailable
from nexus.finetune.dataset import to_jsonl
from nexus.finetune.service import TERMINAL, FineTuneService
from nexus.jobs import JobContext, Outbox, PermanentFailure, RetryLater, job
from nexus.store.models_faq import FineTune, TenantModel
from nexus.store.models_jobs import Job


class Ref(BaseModel):
    fine_tune_id: str


class Poll(BaseModel):
    fine_tune_id: str
    n: int = 1


def service_of(ctx: JobContext[Any]) -> FineTuneService:
    svc = getattr(ctx.services, "fine_tunes", None)
    if not isinstance(svc, FineTuneService):
        raise PermanentFailure("this process was started without the fine-tuning service")
    return svc


def _row(tenant: str, ft_id: str) -> Any:
    return update(FineTune).where(
        FineTune.id == ft_id, FineTune.tenant_id == tenant, FineTune.status.not_in(TERMINAL)
    )


async def _ended(box: Outbox, row: Job, status: str, reason: str) -> None:
    """The job is dead, failed or cancelled: so is the fine-tune (unless it already finished)."""
    ft_id = (row.payload or {}).get("fine_tune_id")
    if ft_id:
        final = "cancelled" if status == "cancelled" else "failed"
        await box.session.execute(_row(row.tenant_id, ft_id).values(status=final, error=reason[:2000]))


@job("finetune.start", payload=Ref, max_attempts=6, timeout_s=120, on_final=_ended)
async def start(ctx: JobContext[Any], p: Ref) -> None:
    svc = service_of(ctx)
    repo = svc.repo(ctx.tenant)
    ft = await repo.get(p.fine_tune_id)
    if ft.status in TERMINAL:
        async with ctx.effect() as tx:
            tx.result = {"skipped": ft.status}
        return
    entry, client = svc.client(ft.base_model)
    try:
        # Each step's result is kept at once, so a retry never uploads or creates twice.
        if not ft.training_file_id:
            ft.training_file_id = await client.upload(to_jsonl(ft.dataset), f"{ft.id}.jsonl")
            await repo.change(ft.id, training_file_id=ft.training_file_id)
        if not ft.provider_job_id:
            created = await client.create_job(entry.model, ft.training_file_id, ft.suffix or None)
            ft.provider_job_id = str(created["id"])
            await repo.change(ft.id, provider_job_id=ft.provider_job_id, status=str(created["status"]))
            if (await repo.get(ft.id)).status == "cancelled":  # cancelled while we were creating it
                await client.cancel(ft.provider_job_id)
    except ProviderUnavailable as exc:
        raise RetryLater(f"provider unavailable: {exc}") from None
    except ProviderRejected as exc:
        async with ctx.effect() as tx:
            await tx.session.execute(
                _row(ctx.tenant.tenant_id, ft.id).values(status="failed", error=str(exc))
            )
            tx.result = {"status": "failed"}
        return
    async with ctx.effect() as tx:
        nxt = await tx.enqueue(
            "finetune.poll",
            Poll(fine_tune_id=ft.id, n=1),
            delay_s=svc.delay(0),
            idempotency_key=f"{ft.id}:poll:1",
        )
        await tx.session.execute(_row(ctx.tenant.tenant_id, ft.id).values(job_id=nxt.id))
        tx.result = {"provider_job_id": ft.provider_job_id, "poll": nxt.id}


@job("finetune.poll", payload=Poll, max_attempts=6, timeout_s=60, on_final=_ended)
async def poll(ctx: JobContext[Any], p: Poll) -> None:
    svc = service_of(ctx)
    ft = await svc.repo(ctx.tenant).get(p.fine_tune_id)
    tenant = ctx.tenant.tenant_id
    if ft.status in TERMINAL or not ft.provider_job_id:
        async with ctx.effect() as tx:
            tx.result = {"skipped": ft.status}
        return
    _, client = svc.client(ft.base_model)
    try:
        remote = await client.job(ft.provider_job_id)
    except ProviderUnavailable as exc:
        raise RetryLater(f"provider unavailable: {exc}") from None
    except ProviderRejected as exc:
        remote = {"status": "failed", "error": {"message": str(exc)}}
    status = str(remote.get("status"))
    row = _row(tenant, ft.id)
    if status == "succeeded":
        entry = svc.registered_entry(ft, str(remote["fine_tuned_model"]))
        async with ctx.effect() as tx:
            done = await tx.session.execute(
                row.values(
                    status="succeeded",
                    fine_tuned_model=entry.model,
                    registered_model=entry.id,
                    polls=p.n,
                    error=None,
                )
            )
            if getattr(done, "rowcount", 0):
                tx.session.add(
                    TenantModel(
                        id=entry.id, tenant_id=tenant, entry=entry.model_dump(mode="json"), source=ft.id
                    )
                )
            tx.result = {"status": status, "model": entry.id}
        svc.catalogue.install([entry])
    elif status in ("failed", "cancelled"):
        err = remote.get("error") or {}
        reason = (err.get("message") if isinstance(err, dict) else str(err)) or f"the provider says {status}"
        async with ctx.effect() as tx:
            await tx.session.execute(
                row.values(status=status, polls=p.n, error=reason if status == "failed" else "cancelled")
            )
            tx.result = {"status": status, "error": reason}
    else:
        async with ctx.effect() as tx:
            nxt = await tx.enqueue(
                "finetune.poll",
                Poll(fine_tune_id=ft.id, n=p.n + 1),
                delay_s=svc.delay(p.n),
                idempotency_key=f"{ft.id}:poll:{p.n + 1}",
            )
            await tx.session.execute(row.values(status=status, polls=p.n, job_id=nxt.id))
            tx.result = {"status": status, "next": nxt.id}

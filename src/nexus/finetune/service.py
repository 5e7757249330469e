"""Fine-tuning jobs, tenant-scoped: create (validate the dataset, store the job, enqueue its start in one
transaction), read, list, cancel. The work itself runs as nexus.jobs kinds (finetune/jobs.py)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from nexus.config.catalogue import ModelEntry
from nexus.config.settings import Settings
from nexus.finetune.client import FineTuneClient, ProviderRejected, ProviderUnavailable
from nexus.finetune.dataset import DatasetError, build_dataset, questions
from nexus.finetune.registry import TENANT_TAG, TenantCatalogue
from nexus.jobs import JobConflict, JobQueue
from nexus.providers.hub import ModelHub
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import ChatService
from nexus.service.errors import ServiceError, invalid
from nexus.service.identity import Caller
from nexus.store import NotFound, Store, TenantScope
from nexus.store.models_faq import FineTune
from nexus.store.repos.faq import FaqPairs, FineTunes

TERMINAL = ("succeeded", "failed", "cancelled")
FINE_TUNING_TAG = "fine-tuning"  # a catalogue entry with this tag can be fine-tuned on its provider


@dataclass(frozen=True, slots=True)
class FineTuneSpec:
    base_model: str
    pairs: tuple[tuple[str, str], ...] = ()
    faq_ids: tuple[str, ...] = ()  # the tenant's stored FAQ pairs, by id
    suffix: str = ""
    system: str = ""


def _scope(tenant: str) -> TenantScope:
    return TenantScope(tenant, False)


class FineTuneService:
    # Polling: the first poll after `poll_s`, doubling up to `poll_max_s` (tests make them short).
    poll_s = 5.0
    poll_max_s = 120.0

    def __init__(self, store: Store, hub: ModelHub, settings: Settings, chat: ChatService) -> None:
        self.store = store
        self.chat = chat
        self.hub = hub
        self.settings = settings
        self.catalogue = TenantCatalogue(hub)
        self.queue: JobQueue | None = None  # set once this process's job engine runs

    def repo(self, tenant: TenantScope | str) -> FineTunes:
        return FineTunes(self.store.sessions, tenant if isinstance(tenant, TenantScope) else _scope(tenant))

    def delay(self, polls: int) -> float:
        return float(min(self.poll_max_s, self.poll_s * 2 ** min(polls, 10)))

    def client(self, base_model: str) -> tuple[ModelEntry, FineTuneClient]:
        entry = self.hub.entry(base_model)
        key = self.settings.secret(entry.api_key_env)
        return entry, FineTuneClient(entry, key, self.hub.http)

    def _base(self, model: str) -> ModelEntry:
        entry = self.hub.entry(model)  # UnknownModel → 404
        if FINE_TUNING_TAG not in entry.tags or not entry.base_url or owner_tag(entry):
            raise invalid(
                f"The model {model!r} cannot be fine-tuned here (its catalogue entry needs the "
                f"'{FINE_TUNING_TAG}' tag and an OpenAI-compatible base_url).",
                code="not_fine_tunable",
                param="base_model",
            )
        return entry

    async def create(self, caller: Caller, spec: FineTuneSpec) -> FineTune:
        tenant = caller.tenant
        if self.queue is None:
            raise ServiceError(503, "This process runs no job engine.", code="jobs_unavailable")
        self._base(spec.base_model)
        pairs = list(spec.pairs)
        if spec.faq_ids:
            stored = {
                p.id: p for p in await FaqPairs(self.store.sessions, _scope(tenant)).by_ids(spec.faq_ids)
            }
            unknown = [i for i in spec.faq_ids if i not in stored]
            if unknown:
                raise NotFound("FAQ", unknown[0])
            pairs += [(stored[i].question, stored[i].answer) for i in spec.faq_ids]
        if not pairs:
            raise invalid("Give the training pairs or the ids of stored FAQs.", code="invalid_dataset")
        pairs = await self._admitted(caller, spec.base_model, pairs)
        try:
            examples = build_dataset(pairs, spec.system)
        except DatasetError as exc:
            raise invalid(str(exc), code="invalid_dataset", param="pairs") from None
        ft_id = "ft_" + secrets.token_hex(8)
        async with self.queue.outbox(_scope(tenant)) as tx:
            started = await tx.enqueue("finetune.start", {"fine_tune_id": ft_id}, idempotency_key=ft_id)
            row = FineTune(
                id=ft_id,
                tenant_id=tenant,
                base_model=spec.base_model,
                suffix=spec.suffix,
                status="pending",
                job_id=started.id,
                examples=len(examples),
                dataset=examples,
                polls=0,
            )
            tx.session.add(row)
        return row

    async def _admitted(
        self, caller: Caller, model: str, pairs: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Limits, budget and the input guard (audited) over the training text, which goes upstream:
        what the guard masks is masked in the dataset too."""
        messages = []
        for q, a in pairs:
            messages += [ChatMessage(role="user", content=q), ChatMessage(role="assistant", content=a)]
        masked = await self.chat.admit(caller, ChatRequest(model=model, messages=messages), None)
        texts = [str(m.content or "") for m in masked.messages]
        return list(zip(texts[0::2], texts[1::2], strict=True))

    async def get(self, tenant: str, ft_id: str) -> FineTune:
        return await self.repo(tenant).get(ft_id)

    async def list(self, tenant: str) -> Sequence[FineTune]:
        return await self.repo(tenant).list()

    async def cancel(self, tenant: str, ft_id: str) -> FineTune:
        repo = self.repo(tenant)
        row = await repo.get(ft_id)
        if row.status in TERMINAL:
            raise ServiceError(409, f"The fine-tune is already {row.status}.", code="fine_tune_finished")
        if row.provider_job_id:
            _, client = self.client(row.base_model)
            try:
                await client.cancel(row.provider_job_id)
            except ProviderRejected:
                pass  # finished at the provider meanwhile: the poll records how
            except ProviderUnavailable as exc:
                raise ServiceError(
                    502, f"The provider did not cancel: {exc}", code="upstream_error"
                ) from None
        await repo.run(
            repo.update()
            .where(FineTune.id == ft_id, FineTune.status.not_in(TERMINAL))
            .values(status="cancelled", error="cancelled by the caller")
        )
        if row.job_id and self.queue is not None:
            with contextlib.suppress(JobConflict, NotFound):
                await self.queue.cancel(row.job_id, tenant=_scope(tenant), reason="fine-tune cancelled")
        return await repo.get(ft_id)

    def registered_entry(self, row: FineTune, fine_tuned_model: str) -> ModelEntry:
        """The catalogue entry of a finished job: the base's provider and prices, the tenant's tag, and
        the training questions as routing prototypes."""
        base = self.hub.entry(row.base_model)
        suffix = row.suffix or "custom"
        return base.model_copy(
            update={
                "id": f"ft:{row.tenant_id}:{suffix}:{row.id[-6:]}",
                "model": fine_tuned_model,
                "tags": tuple(t for t in base.tags if t != FINE_TUNING_TAG)
                + ("fine-tuned", TENANT_TAG + row.tenant_id),
                "prototypes": questions(row.dataset),
                "fallbacks": (),
                "description": f"{base.id} fine-tuned on {row.examples} examples ({row.id})",
            }
        )


def owner_tag(entry: ModelEntry) -> bool:
    return any(t.startswith(TENANT_TAG) for t in entry.tags)

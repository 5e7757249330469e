"""FAQ extraction as a job: upload (parsed and checked at once, admitted and guarded, stored masked) →
`faq.extract` (explicit pairs verbatim, the rest chunk by chunk through the model, progress per chunk)
→ the pairs and `done` committed together, or none of them (a failed job leaves no partial pairs)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import update

from nexus.faq.extract import PROMPT, Pair, chunks, dedupe, explicit_pairs, parse_model_pairs
from nexus.finetune.registry import TenantCatalogue
from nexus.jobs import JobContext, JobQueue, Outbox, PermanentFailure, RetryLater, job
from nexus.pipeline.events import FinalData
from nexus.providers.hub import UnknownModel
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.rag.errors import CorruptFile, EmptyDocument, FileTooLarge, IngestError, UnsupportedType
from nexus.rag.parsing import Block, Limits, ParsedDocument, parse
from nexus.rag.parsing.document import SEPARATOR
from nexus.service.chat import ChatService, TurnRequest
from nexus.service.errors import ServiceError, invalid
from nexus.service.identity import Caller, Principal
from nexus.store import Store, TenantScope
from nexus.store.models_faq import FaqDocument, FaqPair
from nexus.store.models_jobs import Job
from nexus.store.repos.faq import FaqDocuments, FaqPairs

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
TYPES = {
    "pdf": "application/pdf",
    "markdown": "text/markdown",
    "text": "text/plain",
    "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _scope(tenant: str) -> TenantScope:
    return TenantScope(tenant, False)


class FaqService:
    def __init__(self, store: Store, chat: ChatService, models: TenantCatalogue) -> None:
        self.store = store
        self.chat = chat
        self.models = models
        self.queue: JobQueue | None = None

    def documents(self, tenant: TenantScope | str) -> FaqDocuments:
        return FaqDocuments(
            self.store.sessions, tenant if isinstance(tenant, TenantScope) else _scope(tenant)
        )

    def pairs(self, tenant: TenantScope | str) -> FaqPairs:
        return FaqPairs(self.store.sessions, tenant if isinstance(tenant, TenantScope) else _scope(tenant))

    def read(self, filename: str, data: bytes) -> ParsedDocument:
        """The document, or a clear 4xx: empty, too large, not a supported type, corrupt, no text."""
        if not data:
            raise invalid("The file is empty.", code="empty_file", param="file")
        try:
            doc = parse(data, filename, Limits(max_bytes=MAX_UPLOAD_BYTES, max_pages=200))
        except FileTooLarge as exc:
            raise ServiceError(413, f"The file is too large: {exc}.", code="file_too_large") from None
        except UnsupportedType as exc:
            raise ServiceError(415, f"Unsupported file type: {exc}.", code="unsupported_type") from None
        except CorruptFile as exc:
            raise invalid(f"The file is corrupt: {exc}.", code="corrupt_file", param="file") from None
        except EmptyDocument as exc:
            raise invalid(f"The document has no text: {exc}.", code="empty_document", param="file") from None
        except IngestError as exc:
            raise invalid(f"The document cannot be read: {exc}.", code="invalid_document") from None
        if doc.kind not in TYPES:
            raise ServiceError(
                415,
                f"Unsupported file type {doc.kind!r}: upload text, Markdown or PDF.",
                code="unsupported_type",
            )
        return doc

    async def upload(self, caller: Caller, filename: str, data: bytes, model: str | None) -> FaqDocument:
        if self.queue is None:
            raise ServiceError(503, "This process runs no job engine.", code="jobs_unavailable")
        doc = self.read(filename, data)
        model = model or self.chat.hub.catalogue.roles.get("default") or self.chat.hub.catalogue.ids[0]
        if not self.models.visible(caller.tenant, model):
            raise UnknownModel(model, [])
        # Limits, budget and the guard (audited) now; what the guard masks is what is stored.
        asked = ChatRequest(model=model, messages=[ChatMessage(role="user", content=doc.text)])
        masked = str((await self.chat.admit(caller, asked, None)).messages[0].content or "")
        texts = masked.split(SEPARATOR)
        blocks = (
            [
                {"text": t, "kind": b.kind, "level": b.level, "page": b.page}
                for t, b in zip(texts, doc.blocks, strict=True)
            ]
            if len(texts) == len(doc.blocks)
            else [{"text": t, "kind": "paragraph", "level": 0, "page": None} for t in texts if t.strip()]
        )
        doc_id = "doc_" + secrets.token_hex(8)
        async with self.queue.outbox(_scope(caller.tenant)) as tx:
            started = await tx.enqueue("faq.extract", Extract(document_id=doc_id, model=model))
            row = FaqDocument(
                id=doc_id,
                tenant_id=caller.tenant,
                filename=filename[:256],
                content_type=TYPES[doc.kind],
                text=orjson.dumps({"title": doc.title, "kind": doc.kind, "blocks": blocks}).decode(),
                status="queued",
                job_id=started.id,
                done_chunks=0,
                total_chunks=0,
            )
            tx.session.add(row)
        return row

    async def ask(self, caller: Caller, model: str, text: str) -> str:
        req = ChatRequest(model=model, messages=[ChatMessage(role="user", content=PROMPT + text)])
        turn = await self.chat.turn(caller, TurnRequest(chat=req, prechecked=True))
        final = await turn.result()
        if not isinstance(final, FinalData):
            raise ValueError("the model asked a question instead of answering")
        return final.answer

    async def list_pairs(self, tenant: str, document_id: str | None) -> Sequence[FaqPair]:
        if document_id is not None:
            await self.documents(tenant).get(document_id)  # 404 unless the tenant's
            return await self.pairs(tenant).of_document(document_id)
        return await self.pairs(tenant).list()


class Extract(BaseModel):
    document_id: str
    model: str


def _document_of(row: FaqDocument) -> ParsedDocument:
    data = orjson.loads(row.text)
    blocks = tuple(Block(b["text"], b["kind"], b["level"], b["page"]) for b in data["blocks"])
    return ParsedDocument(data["kind"], data["title"], blocks)


async def _ended(box: Outbox, row: Job, status: str, reason: str) -> None:
    doc_id = (row.payload or {}).get("document_id")
    if doc_id:
        await box.session.execute(
            update(FaqDocument)
            .where(FaqDocument.id == doc_id, FaqDocument.tenant_id == row.tenant_id)
            .values(status="failed" if status != "cancelled" else "cancelled", error=reason[:2000])
        )


def service_of(ctx: JobContext[Any]) -> FaqService:
    svc = getattr(ctx.services, "faqs", None)
    if not isinstance(svc, FaqService):
        raise PermanentFailure("this process was started without the FAQ service")
    return svc


@job("faq.extract", payload=Extract, max_attempts=3, timeout_s=600, on_final=_ended)
async def extract(ctx: JobContext[Any], p: Extract) -> None:
    svc = service_of(ctx)
    docs = svc.documents(ctx.tenant)
    row = await docs.get(p.document_id)
    parsed = _document_of(row)
    pairs, rest = explicit_pairs(parsed, row.filename)
    parts = [] if svc.chat.hub.demo else chunks(rest)  # offline (demo models): the explicit pairs alone
    await docs.change(row.id, status="running", total_chunks=len(parts) + 1, done_chunks=1, error=None)
    caller = Caller(
        Principal(tenant_id=ctx.tenant.tenant_id, role="member", subject="faq-extract", via="job"),
        door="faq_extract",
        request_id=ctx.job_id,
    )
    for i, part in enumerate(parts):
        text = SEPARATOR.join(b.text for b in part)
        try:
            found = parse_model_pairs(await svc.ask(caller, p.model, text))
        except ValueError as exc:
            raise RetryLater(f"chunk {i + 1} of {len(parts)}: {exc}") from None
        where = f"{row.filename} p.{part[0].page}" if part[0].page else f"{row.filename} chunk {i + 1}"
        pairs += [Pair(q, a, where + " (model)") for q, a in found]
        await docs.change(row.id, done_chunks=i + 2)
    pairs = dedupe(pairs)
    async with ctx.effect() as tx:
        tx.session.add_all(
            FaqPair(
                id=f"faq_{secrets.token_hex(6)}",
                tenant_id=ctx.tenant.tenant_id,
                document_id=row.id,
                question=pr.question,
                answer=pr.answer,
                source=pr.source[:256],
            )
            for pr in pairs
        )
        await tx.session.execute(
            update(FaqDocument)
            .where(FaqDocument.id == row.id, FaqDocument.tenant_id == ctx.tenant.tenant_id)
            .values(status="done", done_chunks=len(parts) + 1)
        )
        tx.result = {"pairs": len(pairs), "model_chunks": len(parts), "offline": svc.chat.hub.demo}

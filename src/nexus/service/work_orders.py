"""Work orders on the queue (the company-style flow): a door accepts the work now, a worker runs it later.

    POST /api/work-orders → admit (limits, budget, guard — audited, masked before it is stored —, session)
                          → the work order row and its job, in one transaction → 202
    a worker             → `run_turn`: the same chat turn as every door (ChatService), accounted to
                           that work order; queued → running → done | failed | interrupted

`WorkOrders` is also the `TurnRunner` the jobs package's `work_order` handler calls (nexus.jobs does not
import the service layer).
"""

from __future__ import annotations

from dataclasses import dataclass

from nexus.jobs import JobQueue, PermanentFailure, SubmittedWorkOrder, TurnAnswer, submit_work_order
from nexus.jobs import TurnRequest as JobTurn
from nexus.pipeline.events import InterruptData
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import AUTO_MODEL, ChatService, TurnRequest
from nexus.service.errors import ServiceError
from nexus.service.identity import Caller, Principal
from nexus.store import Store, TenantScope

DOOR = "work_order"


@dataclass(frozen=True, slots=True)
class WorkOrderSubmission:
    content: str
    priority: int = 0
    session_id: str | None = None
    callback_url: str | None = None
    idempotency_key: str | None = None


def _chat(content: str) -> ChatRequest:
    return ChatRequest(model=AUTO_MODEL, messages=[ChatMessage(role="user", content=content)])


class WorkOrders:
    def __init__(self, chat: ChatService, store: Store, queue: JobQueue | None = None) -> None:
        self.chat = chat
        self.store = store
        # None in a worker process: it runs work orders; the gateways accept them.
        self.queue = queue

    async def submit(self, caller: Caller, order: WorkOrderSubmission) -> SubmittedWorkOrder:
        """Accept a work order: everything that could refuse it is checked now, so a 202 is a promise."""
        if self.queue is None:
            raise ServiceError(503, "This process does not accept work orders.", code="jobs_unavailable")
        masked = await self.chat.admit(caller, _chat(order.content), order.session_id)
        return await submit_work_order(
            self.queue,
            tenant=TenantScope(caller.tenant, False),
            content=masked.last_user_text(),
            priority=order.priority,
            session_id=order.session_id,
            callback_url=order.callback_url,
            api_key_id=caller.principal.key_id,
            request_id=caller.request_id or None,
            idempotency_key=order.idempotency_key,
        )

    async def run_turn(self, request: JobTurn) -> TurnAnswer:
        """The worker side: the chat turn of a queued work order, accounted to that work order."""
        caller = Caller(await self._principal(request), door=DOOR, request_id=request.request_id)
        turn = await self.chat.turn(
            caller,
            TurnRequest(
                chat=_chat(request.content),
                session_id=request.session_id,
                client_history=False,
                work_order_id=request.work_order_id,
                prechecked=True,
                clarify=False,
            ),
        )
        outcome = await turn.result()
        if isinstance(outcome, InterruptData):  # no one is there to answer a question
            raise PermanentFailure(f"the request needs clarification: {outcome.question}")
        return TurnAnswer(text=outcome.answer, session_id=turn.session_id, model=outcome.model)

    async def _principal(self, request: JobTurn) -> Principal:
        """Who submitted it: the key's role and limits when a key did, else a member of the tenant."""
        if request.api_key_id:
            row = await self.store.api_keys(TenantScope(request.tenant_id, False)).find(request.api_key_id)
            if row is not None:
                return Principal(
                    tenant_id=row.tenant_id,
                    role=row.role,  # type: ignore[arg-type]
                    subject=row.prefix,
                    via="key",
                    key_id=row.id,
                    rpm=row.rpm,
                    tpm=row.tpm,
                )
        return Principal(tenant_id=request.tenant_id, role="member", subject=DOOR, via="job")
